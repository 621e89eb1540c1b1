"""How familiar a pair's image and caption are to the models that never saw it, and ranks read within groups of
like familiarity.

A correct pair whose concept no other pair shows ranks like a wrong one: the models that never saw it cannot
predict it (docs/audit.md, "What the audit cannot see"). Such pairs are unfamiliar: their image lies far from every
other image and their caption far from every other caption. A wrong pair's image and caption are each ordinary
members of the set, so its familiarity tells nothing about whether it is wrong, while a correct pair's rank depends
on it strongly. Reading ranks within groups of like familiarity is then testing grouped hypotheses (Cai & Sun,
JASA 2009): a pair is suspicious by how uniform the ranks at its rank look *in its group* — the conditional local
false discovery rate π / f_g(u) with one share π of wrong pairs for every group. Among familiar pairs correct ones
rank near the top and a low rank stands out; among unfamiliar pairs every rank is common and says little.

Wrong pairs are not as common in every group, though: a correct pair's image and caption show one concept, so their
familiarities rise together, while a wrong pair's caption belongs to another image and its two familiarities are
independent. The sum of two independent familiarities lands in the middle groups more often and in the extreme ones
less (on Open Clip Art the least familiar group holds a quarter of the wrong pairs its size would suggest). So each
group g carries a weight w_g = q_g / p_g, the share q_g of independent (image, caption) familiarity sums in g's range
over the share p_g of the pairs in g (``wrong_pair_weights``), and the share of wrong pairs in g is π · w_g
(docs/audit.md, "Where wrong pairs lie").
"""

from __future__ import annotations

import numpy as np
import torch

from clipmem.audit.mixture import decreasing_density, uniform_share
from clipmem.audit.ranks import ensemble_similarity, unseen_cells

NEIGHBOURS = 5  # the familiarity of an image (caption) is its mean similarity to its 5 nearest other images (captions)
GROUP_SIZE = 250  # pairs per familiarity group (docs/audit.md, "Choosing the defaults")


def side_familiarity(embeddings: torch.Tensor, membership: torch.Tensor, k: int = NEIGHBOURS) -> torch.Tensor:
    """(N,) float64: the mean cosine similarity of each pair's image (or caption) to its ``k`` nearest other images
    (captions), in [−1, 1], under the ensemble of the models that never saw the pair (``unseen_cells``), from one
    side's embeddings (M, N, D) and ``membership`` (M, N)."""
    n = membership.shape[1]
    k = max(1, min(int(k), n - 1))
    out = torch.full((n,), torch.nan, dtype=torch.float64)
    for models, rows in unseen_cells(membership):
        index = rows.nonzero().flatten()
        similarity = ensemble_similarity(embeddings[models][:, rows], embeddings[models])
        similarity[torch.arange(len(index)), index] = -torch.inf
        out[rows] = similarity.topk(k, dim=1).values.mean(1)
    return out


def familiarity(image: torch.Tensor, text: torch.Tensor, membership: torch.Tensor, k: int = NEIGHBOURS
                ) -> torch.Tensor:
    """(N,) float64 in [−2, 2]: the image's ``side_familiarity`` plus the caption's, from embeddings ``image`` and
    ``text`` (M, N, D) and ``membership`` (M, N)."""
    return side_familiarity(image, membership, k) + side_familiarity(text, membership, k)


def group_edges(values: np.ndarray, size: int = GROUP_SIZE) -> np.ndarray:
    """(G − 1,) the familiarity values between round(N / ``size``) groups (at least 1) of about equal count by
    ``values`` (N,): group g holds the values v with edges[g − 1] ≤ v < edges[g]."""
    values = np.asarray(values, dtype=np.float64)
    count = max(1, round(len(values) / max(int(size), 1)))
    return np.quantile(values, np.linspace(0, 1, count + 1)[1:-1]) if count > 1 else np.empty(0)


def familiarity_groups(values: np.ndarray, size: int = GROUP_SIZE) -> np.ndarray:
    """(N,) int group of each pair: round(N / ``size``) groups (at least 1) of about equal count by ``values``
    (N,), group 0 the least familiar (``group_edges``). Ties stay together."""
    values = np.asarray(values, dtype=np.float64)
    return _group_of(values, group_edges(values, size))


def _group_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(N,) int64 the group of each of ``values`` (N,) between ``edges`` (G − 1,)."""
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def wrong_pair_weights(image_side: np.ndarray, caption_side: np.ndarray, size: int = GROUP_SIZE
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(N,) int64 ``familiarity_groups`` of the pairs' familiarity image_side + caption_side (each (N,)) and (N,)
    float64 w_g of each pair's group: how much more common wrong pairs are in it than pairs are, q_g / p_g.
    q_g: the share of the sums image_side[a] + caption_side[b] over all (a, b) of the audited pairs (a wrong pair's
    image and caption familiarities, drawn independently) in the group's range; p_g: the share of the pairs in it.
    Σ_g p_g w_g = 1; one group: all 1."""
    image_side, caption_side = np.asarray(image_side, np.float64), np.asarray(caption_side, np.float64)
    known = image_side + caption_side
    edges = group_edges(known, size)
    groups = _group_of(known, edges)
    captions = np.sort(caption_side)
    below = [np.searchsorted(captions, edge - image_side, side="left").sum() / image_side.size ** 2
             for edge in edges]  # share of independent sums under each edge
    q = np.diff(np.concatenate([[0.0], below, [1.0]]))
    p = np.bincount(groups, minlength=len(edges) + 1) / image_side.size
    return groups, (q / np.maximum(p, 1e-12))[groups]


def grouped_density(u: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) Grenander's non-increasing density of the mid-ranks ``u`` (N,) within each pair's group, at its u."""
    u, groups = np.asarray(u, dtype=np.float64), np.asarray(groups)
    density = np.empty(len(u))
    for group in np.unique(groups):
        chosen = groups == group
        density[chosen] = decreasing_density(u[chosen])
    return density


def grouped_suspicion(u: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(N,) ``rank_by_familiarity``: w_g / f_g(u), how much the ranks at a pair's rank look uniform within its group,
    weighted by how common wrong pairs are there (``weights`` (N,), None: 1; π times it is the pair's probability
    of a wrong caption), ties within a group broken by u."""
    weights = np.ones(len(u)) if weights is None else np.asarray(weights, dtype=np.float64)
    density = grouped_density(u, groups)
    return weights / np.maximum(density, 1e-12) + 1e-9 * np.asarray(u, dtype=np.float64)


def grouped_probability(u: np.ndarray, groups: np.ndarray, wrong_fraction: float,
                        weights: np.ndarray | None = None) -> np.ndarray:
    """(N,) probability of a wrong caption, π w_g / f_g(u) (at most 1): ``local_probability`` within each pair's
    group, whose share of wrong pairs is π times its ``weights`` (N,) (None: 1)."""
    density = grouped_density(u, groups)
    return uniform_share(density if weights is None else density / np.asarray(weights, np.float64), wrong_fraction)
