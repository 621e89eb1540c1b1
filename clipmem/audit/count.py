"""How many pairs are wrong, counted where correct pairs seldom land: among pairs whose image and caption are familiar.

A wrong caption is one more caption written for another image, so for image i the rank of its own caption has the
law of the rank of a caption taken from the other pairs' captions (exchangeability), and so has any region that is a
function of the (image, caption) pair. What spoils a count from the ranks alone (Storey's bound, the mixture) are the
correct pairs the models cannot predict: a caption naming a concept no other pair shows ranks like a wrong one. Such
pairs are unfamiliar: their image lies far from every other image, or their caption from every other caption (a
caption can lie near other captions while its picture is like no other, so the image is read too). Counting only
pairs whose image and caption familiarities sum above a quantile of the pairs' sums (``CountRegion``; 0.6) and which
rank low (joint mid-rank above λ = 0.5) leaves few correct pairs in the count, and the share of wrong pairs
landing there is read off the other captions, pair by pair:

    K̂ = #{i: v_ii > λ, a_i + c_i > t} / mean_i P0_i,
    P0_i = share of the captions k of i's cell (k ≠ i, and k not a caption of one of the ``NEAR_IMAGES`` share of
           images most like i's, which would describe it) with v_ik > λ and a_i + c_k > t,

v_ik = (u_ik + r_ik) / 2 the mean of caption k's mid-rank among the cell's captions for image i and image i's mid-rank
among the cell's images for caption k, under the ensemble of the models that never saw the cell
(``clipmem.audit.ranks``); a_i, c_k the image's and the caption's familiarity and t the quantile of the pairs' sums
a_i + c_i. The captions of images like i's are left out of P0_i because a caption naming what i shows is not what a
wrong caption is. The interval is the exact Poisson interval of the count (Garwood), scaled by the same factor; it
leaves out the correct pairs that still lie in the region and assumes that the set's wrong captions rank like the
captions of unlike images. On the prepared sets the count lands at 0.80–1.30 times the injected number on 27 saved
audits and 0.42–1.41 on nine new seeds (docs/audit.md, "How many are wrong").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats as scipy_stats

from clipmem.audit.ranks import ensemble_similarity, unseen_cells

NEAR_IMAGES = 0.3  # share of a cell's images nearest each image whose captions leave that image's null


@dataclass(frozen=True)
class CountRegion:
    """Where the count counts (``audit.count_familiar_quantile``, ``audit.count_rank_threshold``): pairs whose image +
    caption familiarity exceeds the ``familiar_quantile`` quantile of the pairs' sums and whose joint mid-rank
    exceeds ``rank_threshold`` (λ); ``level`` is the interval's coverage."""

    familiar_quantile: float = 0.6
    rank_threshold: float = 0.5
    level: float = 0.95


@dataclass(frozen=True)
class FamiliarCount:
    """The count's parts: which pairs lie in the counting region (``counted`` (N,) bool; ``observed`` of them),
    ``null_share`` (mean P0_i: the share of wrong pairs expected there), the estimate ``observed / null_share`` and
    its ``low``–``high`` interval (pairs; each at most the number of rows; NaN where the null share is 0), counted
    ``where`` (None: a region of the caller's own)."""

    counted: torch.Tensor
    null_share: float
    estimate: float
    low: float
    high: float
    where: CountRegion | None = None

    @property
    def observed(self) -> int:
        """How many pairs lie in the counting region."""
        return int(self.counted.sum())


def caption_ranks(similarity: torch.Tensor) -> torch.Tensor:
    """(n, n) float64 mid-rank u_ik of caption k among the captions for image i, from an image × caption
    ``similarity`` (n, n): (#{j: S_ij ≥ S_ik} − ½) / n, so u_ii is ``rank_caption``'s mid-rank."""
    n = similarity.shape[0]
    ordered = similarity.sort(dim=1).values.contiguous()
    above = n - torch.searchsorted(ordered, similarity.contiguous(), side="left")
    return (above.double() - 0.5) / n


def joint_ranks(similarity: torch.Tensor) -> torch.Tensor:
    """(n, n) float64 v_ik = (u_ik + r_ik) / 2: the mean of caption k's mid-rank among the captions for image i
    (``caption_ranks``) and image i's mid-rank among the images for caption k, from an image × caption ``similarity``
    (n, n). Like ``rank_joint`` it reads a pair from both sides and cancels captions and images close to everything."""
    return (caption_ranks(similarity) + caption_ranks(similarity.T).T) / 2


def null_mask(image_similarity: torch.Tensor, near: float = NEAR_IMAGES) -> torch.Tensor:
    """(n, n) bool: which captions k stand in for a wrong caption of image i: k ≠ i and k's image not among the
    ceil(``near`` · n) images most like i's (by ``image_similarity`` (n, n))."""
    n = image_similarity.shape[0]
    allowed = ~torch.eye(n, dtype=torch.bool)
    nearest = min(math.ceil(near * n), n - 2)
    if nearest > 0:
        neighbours = image_similarity.masked_fill(~allowed, -torch.inf).topk(nearest, dim=1).indices
        allowed = allowed.scatter(1, neighbours, False)
    return allowed


def observed_and_null(image: torch.Tensor, text: torch.Tensor, membership: torch.Tensor,
                      region: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Which pairs lie in ``region`` ((N,) bool: region_ii) and the share of wrong pairs expected there: the mean
    over pairs i of the share of i's null captions k (``null_mask``) with region_ik. ``region(index, similarity)``
    gives the (n, n) bool region of a cell from its pairs' indices (n,) and its image × caption ``similarity``
    (n, n) under the ensemble of the models that never saw it; embeddings (M, N, D), ``membership`` (M, N)."""
    observed, null_total = torch.zeros(membership.shape[1], dtype=torch.bool), 0.0
    for models, rows in unseen_cells(membership):
        index = rows.nonzero().flatten()
        cell_image, cell_text = image[models][:, index], text[models][:, index]
        inside = region(index, ensemble_similarity(cell_image, cell_text))
        allowed = null_mask(ensemble_similarity(cell_image, cell_image))
        observed[index] = inside.diagonal()
        null_total += float(((inside & allowed).sum(1) / allowed.sum(1).clamp(min=1)).sum())
    return observed, null_total / membership.shape[1]


def familiar_count(image: torch.Tensor, text: torch.Tensor, membership: torch.Tensor,
                   image_familiarity: torch.Tensor, caption_familiarity: torch.Tensor,
                   where: CountRegion = CountRegion()) -> FamiliarCount:
    """The estimated number of wrong pairs from embeddings ``image`` and ``text`` (M, N, D), ``membership`` (M, N)
    and each pair's ``image_familiarity`` and ``caption_familiarity`` (N,) (``clipmem.audit.familiarity.
    side_familiarity`` of the images and of the captions), counted ``where`` says."""
    images, captions = image_familiarity.double(), caption_familiarity.double()
    cut = torch.quantile(images + captions, where.familiar_quantile)

    def region(index: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        familiar = images[index].unsqueeze(1) + captions[index].unsqueeze(0) > cut  # image i with caption k
        return (joint_ranks(similarity) > where.rank_threshold) & familiar

    return dataclasses.replace(count_in_region(image, text, membership, region, where.level), where=where)


def count_in_region(image: torch.Tensor, text: torch.Tensor, membership: torch.Tensor,
                    region: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], level: float = 0.95
                    ) -> FamiliarCount:
    """The count of wrong pairs in ``region`` (as ``observed_and_null`` takes it): the pairs there over the null
    share, with Garwood's ``level`` interval scaled the same way."""
    counted, share = observed_and_null(image, text, membership, region)
    observed = int(counted.sum())
    low, high = poisson_interval(observed, level)
    scale = 1.0 / share if share > 0 else math.nan
    rows = membership.shape[1]  # no more wrong pairs than rows
    return FamiliarCount(counted=counted, null_share=share, estimate=min(observed * scale, rows),
                         low=min(low * scale, rows), high=min(high * scale, rows))


def poisson_interval(count: int, level: float = 0.95) -> tuple[float, float]:
    """Garwood's exact ``level`` interval of a Poisson mean from one ``count``."""
    tail = (1 - level) / 2
    low = 0.0 if count == 0 else float(scipy_stats.chi2.ppf(tail, 2 * count) / 2)
    return low, float(scipy_stats.chi2.ppf(1 - tail, 2 * count + 2) / 2)


def familiar_count_fraction(count: FamiliarCount, rows: int) -> float:
    """The estimated share of wrong pairs, clipped into the mixture's open range (0, 1)."""
    return float(np.clip(count.estimate / max(rows, 1), 1e-3, 0.999)) if math.isfinite(count.estimate) else math.nan
