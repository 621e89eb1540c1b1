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


def familiarity_groups(values: np.ndarray, size: int = GROUP_SIZE) -> np.ndarray:
    """(N,) int group of each pair: round(N / ``size``) groups (at least 1) of about equal count by ``values``
    (N,), group 0 the least familiar. Ties stay together."""
    values = np.asarray(values, dtype=np.float64)
    count = max(1, round(len(values) / max(int(size), 1)))
    if count == 1:
        return np.zeros(len(values), dtype=np.int64)
    edges = np.quantile(values, np.linspace(0, 1, count + 1)[1:-1])
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def grouped_density(u: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) Grenander's non-increasing density of the mid-ranks ``u`` (N,) within each pair's group, at its u."""
    u, groups = np.asarray(u, dtype=np.float64), np.asarray(groups)
    density = np.empty(len(u))
    for group in np.unique(groups):
        chosen = groups == group
        density[chosen] = decreasing_density(u[chosen])
    return density


def grouped_suspicion(u: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) ``rank_by_familiarity``: 1 / f_g(u), how much the ranks at a pair's rank look uniform within its group
    (π times it is the pair's probability of a wrong caption), ties within a group broken by u."""
    density = grouped_density(u, groups)
    return 1.0 / np.maximum(density, 1e-12) + 1e-9 * np.asarray(u, dtype=np.float64)


def grouped_probability(u: np.ndarray, groups: np.ndarray, wrong_fraction: float) -> np.ndarray:
    """(N,) probability of a wrong caption, π / f_g(u) (at most 1): ``local_probability`` within each pair's group."""
    return uniform_share(grouped_density(u, groups), wrong_fraction)
