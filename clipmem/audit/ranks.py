"""Rank statistics of an audit: how a pair's own caption ranks among captions the models never saw.

For a pair x and the models that never trained on it, compare x with the other pairs that exactly those models
never saw (its block, under ``design=crossfit``): ``S[i, j]`` is the ensemble's cosine similarity of image i and caption
j over that set. When x's caption belongs to another image, it is just one more unrelated caption to them, so

* ``rank_caption``: (1 + #{j ≠ x: S[x, j] ≥ S[x, x]}) / n, the rank of x's caption among the set's captions for
  its image, is uniform on {1/n, …, 1};
* ``rank_image``: the same for x's image among the set's images for its caption;
* ``rank_joint``: the rank of S[x, x] among its row and its column together (2n − 1 values), which also
  cancels captions and images that are close to everything (hubs).

Small values mean the models predict the pair; a wrong caption ranks anywhere. The neighbourhood score
``neighbours`` follows LEMoN (Zhang et al., ICML 2025): a pair whose image neighbours carry captions unlike
its own, and whose caption neighbours show images unlike its own, is suspicious.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clipmem.audit.names import RANK_STATISTICS


def unseen_cells(membership: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Samples grouped by the set of models that never trained on them: [(those models' indices, the cell's samples
    (N,) bool)], one entry per distinct set, in order of each cell's first sample. Under ``design=crossfit`` a cell is
    a block: its pairs are ranked among each other under the ensemble of its R unseen models."""
    unseen = ~membership.bool()
    patterns, inverse = torch.unique(unseen.T, dim=0, return_inverse=True)
    first = [int((inverse == c).nonzero()[0]) for c in range(len(patterns))]
    order = sorted(range(len(patterns)), key=first.__getitem__)
    return [(patterns[c].nonzero().flatten(), inverse == c) for c in order]


def ensemble_similarity(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Mean over models of the cosine similarities between ``left`` (R, n, D) and ``right`` (R, n, D): (n, n)."""
    return torch.einsum("rid,rjd->ij", F.normalize(left.double(), dim=-1), F.normalize(right.double(), dim=-1)
                        ) / left.shape[0]


def rank_pvalues(similarity: torch.Tensor) -> dict[str, torch.Tensor]:
    """``rank_caption``, ``rank_image`` and ``rank_joint`` (each (n,), in (0, 1]) of the diagonal of an image ×
    caption ``similarity`` (n, n); ties count against the pair (a conservative rank)."""
    own = similarity.diagonal()
    above_row = (similarity >= own.unsqueeze(1)).sum(1).double()  # includes the pair itself
    above_column = (similarity >= own.unsqueeze(0)).sum(0).double()
    n = similarity.shape[0]
    return {"rank_caption": above_row / n, "rank_image": above_column / n,
            "rank_joint": (above_row + above_column - 1) / (2 * n - 1)}


def neighbour_score(image: torch.Tensor, text: torch.Tensor, k: int = 10) -> torch.Tensor:
    """LEMoN-style suspicion (n,) from embeddings (R, n, D) of one unseen set: the pair's cosine distance plus the
    mean text distance to the captions of its k nearest images plus the mean image distance to the images of its
    k nearest captions (higher = more suspicious)."""
    n = image.shape[1]
    k = max(1, min(int(k), n - 1))
    pair = ensemble_similarity(image, text).diagonal()
    images, texts = ensemble_similarity(image, image), ensemble_similarity(text, text)
    eye = torch.eye(n, dtype=torch.bool)
    near_images = images.masked_fill(eye, -torch.inf).topk(k, dim=1).indices
    near_texts = texts.masked_fill(eye, -torch.inf).topk(k, dim=1).indices
    caption_gap = 1 - texts.gather(1, near_images).mean(1)
    image_gap = 1 - images.gather(1, near_texts).mean(1)
    return (1 - pair) + caption_gap + image_gap


def out_of_sample_statistics(image: torch.Tensor, text: torch.Tensor, membership: torch.Tensor
                             ) -> dict[str, torch.Tensor]:
    """Rank statistics, the neighbourhood score, ``compared`` (the size n of the cell a pair was ranked in) and
    ``cell`` (its index) of every sample, each (N,) float64, from embeddings ``image`` and ``text`` (M, N, D) and
    ``membership`` (M, N): each pair is ranked among the pairs unseen by exactly the same models (``unseen_cells``),
    under their ensemble, which keeps a wrong caption's rank exactly uniform."""
    n_samples = membership.shape[1]
    names = (*RANK_STATISTICS, "neighbours", "compared", "cell")
    out = {name: torch.full((n_samples,), torch.nan, dtype=torch.float64) for name in names}
    for index, (models, rows) in enumerate(unseen_cells(membership)):
        size = int(rows.sum())
        if size < 2 or len(models) == 0:
            raise ValueError(f"{size} samples are unseen by the same {len(models)} models: too few to rank "
                             "(design=crossfit makes blocks of several pairs, each unseen by R models)")
        left, right = image[models][:, rows], text[models][:, rows]
        values = rank_pvalues(ensemble_similarity(left, right))
        values["neighbours"] = neighbour_score(left, right)
        for name, value in values.items():
            out[name][rows] = value
        out["compared"][rows] = float(size)
        out["cell"][rows] = float(index)
    return out


def mid_rank(p: torch.Tensor, compared: torch.Tensor) -> torch.Tensor:
    """Rank p-values in {1/n, …, 1} moved to the middle of their step, (p − ½/n): uniform on (0, 1) in the
    mean under the null, and never 0 or 1 (what a continuous mixture needs)."""
    return p - 0.5 / compared
