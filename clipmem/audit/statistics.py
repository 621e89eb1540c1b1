"""Suspicion statistics of an audit: pure functions of every model's per-sample statistics and membership.

Every statistic here is "higher = more suspicious". With values L_m(x) = A_m(x) − C_m(x), alignment A_m(x),
embeddings and membership (model m trained on x):

* ``rank_joint``, ``rank_caption``, ``rank_image``: where the pair's own caption (image) ranks among the pairs
  the same models never saw (``clipmem.audit.ranks``): uniform for a wrong caption;
* ``rank_by_familiarity``: ``rank_joint`` read among pairs of like familiarity (``clipmem.audit.familiarity``);
* ``neighbours``: the LEMoN-style neighbourhood score (``clipmem.audit.ranks``);
* ``memorization``: mean L of the models that trained on x minus that of the models that did not;
* ``low_consistency``: −(mean L of the models that did not): the rest of the data predicts x poorly;
* ``low_alignment``: −(mean A of the models that did not): the same models' ensemble CLIP score, the fair
  baseline of every statistic above;
* ``low_fit``: −(mean A of the models that trained on x): a pair they could not fit in training (the small-loss
  criterion of learning with noisy labels: wrong pairs are fitted late, Arpit et al. 2017; Han et al. 2018);
* ``consensus``: the mean percentile (in (0, 1]) of ``rank_by_familiarity``, ``low_alignment``, ``neighbours`` and
  ``low_fit``: four views of a pair, with equal weights (``CONSENSUS_OF``; docs/audit.md, "Choosing the defaults");
* ``combined``: robust z of memorization + robust z of low consistency;
* ``clipscore``: −A of the audit's own first model that did not train on x (one model's CLIP score; not an
  external model).
"""

from __future__ import annotations

import torch
from scipy import stats as scipy_stats

from clipmem.audit.familiarity import GROUP_SIZE, grouped_suspicion, side_familiarity, wrong_pair_weights
from clipmem.audit.names import CONSENSUS_OF, STATISTICS
from clipmem.audit.ranks import mid_rank, out_of_sample_statistics
from clipmem.scoring.clipmem import clipmem_raw, model_value
from clipmem.scoring.statistics import SampleStatistics
from clipmem.scoring.uncertainty import in_out_means

MAD_SCALE = 1.4826  # MAD -> standard deviation of a normal distribution
__all__ = ["STATISTICS", "audit_statistics", "robust_z", "suspicion_statistics"]


def robust_z(values: torch.Tensor) -> torch.Tensor:
    """(values − median) / (1.4826 · MAD), (N,); a constant vector gives zeros."""
    median = values.median()
    mad = (values - median).abs().median() * MAD_SCALE
    return (values - median) / mad if float(mad) > 0 else torch.zeros_like(values)


def first_out_model(membership: torch.Tensor) -> torch.Tensor:
    """(N,) index of the first model (in plan order) that did not train on each sample."""
    outside = (~membership.bool()).long()
    return torch.argmax(outside, dim=0)


def suspicion_statistics(align: torch.Tensor, contrast: torch.Tensor, membership: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
    """The statistics of A and C (memorization, low_consistency, low_alignment, low_fit, combined, clipscore), each
    (N,) float64, from (M, N) ``align``, ``contrast`` and ``membership``; every sample must have at least one model
    that did and one that did not train on it."""
    values = model_value(align, contrast).double()
    in_mean, out_mean = in_out_means(values, membership)
    in_align, out_align = in_out_means(align.double(), membership)
    memorization = clipmem_raw(in_mean, out_mean)
    columns = torch.arange(values.shape[1])
    return {
        "memorization": memorization,
        "low_consistency": -out_mean,
        "low_alignment": -out_align,
        "low_fit": -in_align,
        "combined": robust_z(memorization) + robust_z(-out_mean),
        "clipscore": -align.double()[first_out_model(membership), columns],
    }


def familiarity_statistics(ranks: dict[str, torch.Tensor], image: torch.Tensor, text: torch.Tensor,
                           membership: torch.Tensor, group_size: int) -> dict[str, torch.Tensor]:
    """``familiarity``, its sides ``image_familiarity`` and ``caption_familiarity``, ``familiarity_group``, the group's
    ``familiarity_weight`` (how common wrong pairs are in it, ``wrong_pair_weights``) and ``rank_by_familiarity``
    (each (N,) float64) from the rank statistics ``ranks`` (``rank_joint`` and ``compared``), embeddings (M, N, D)
    and ``membership`` (M, N)."""
    image_side, caption_side = side_familiarity(image, membership), side_familiarity(text, membership)
    known = image_side + caption_side  # familiarity(), keeping its sides
    groups, weights = wrong_pair_weights(image_side.numpy(), caption_side.numpy(), group_size)
    u = mid_rank(ranks["rank_joint"], ranks["compared"]).numpy()
    return {"familiarity": known, "image_familiarity": image_side, "caption_familiarity": caption_side,
            "familiarity_group": torch.from_numpy(groups).double(), "familiarity_weight": torch.from_numpy(weights),
            "rank_by_familiarity": torch.from_numpy(grouped_suspicion(u, groups, weights))}


def percentile(values: torch.Tensor) -> torch.Tensor:
    """(N,) float64 rank of each value among ``values`` (N,) divided by N, in (0, 1]; ties share their mean rank."""
    return torch.from_numpy(scipy_stats.rankdata(values.double().numpy()) / len(values))


def consensus(statistics: dict[str, torch.Tensor], names: tuple[str, ...] = CONSENSUS_OF) -> torch.Tensor:
    """(N,) float64 mean percentile of the statistics ``names`` (each (N,), higher = more suspicious): a pair ranks
    high when the views agree, and no view's scale outweighs another's."""
    return torch.stack([percentile(statistics[name]) for name in names]).mean(0)


def audit_statistics(stats: list[SampleStatistics], membership: torch.Tensor, group_size: int = GROUP_SIZE
                     ) -> dict[str, torch.Tensor]:
    """Every statistic of ``STATISTICS``, ``compared`` (the size of the set each pair was ranked in), ``cell``,
    ``familiarity``, ``familiarity_group`` (groups of about ``group_size`` pairs) and ``familiarity_weight``, each
    (N,) float64, from the models' statistics (in plan order, with embeddings) and ``membership`` (M, N)."""
    if any(s.image is None or s.text is None for s in stats):
        raise ValueError("the audit's rank statistics need each model's embeddings (design=crossfit keeps them)")
    align, contrast = torch.stack([s.align for s in stats]), torch.stack([s.contrast for s in stats])
    image, text = torch.stack([s.image for s in stats]), torch.stack([s.text for s in stats])
    ranks = out_of_sample_statistics(image, text, membership)
    values = {**ranks, **familiarity_statistics(ranks, image, text, membership, group_size),
              **suspicion_statistics(align, contrast, membership)}
    return {**values, "consensus": consensus(values)}
