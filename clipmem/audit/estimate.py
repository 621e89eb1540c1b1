"""The audit's estimate from every model's statistics: suspicion, probability of a wrong caption, flags, the
estimated number of wrong pairs and how reliable the ranking is (pure: no files)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from clipmem.audit.config import AuditConfig
from clipmem.audit.count import CountRegion, FamiliarCount, familiar_count, familiar_count_fraction
from clipmem.audit.familiarity import grouped_probability
from clipmem.audit.mixture import (
    MixtureFit,
    fit_mixture,
    flag_recall,
    precision_of_flags,
    wrong_upper_bound,
)
from clipmem.audit.names import RANK_ORDER_STATISTICS
from clipmem.audit.ranks import mid_rank
from clipmem.audit.statistics import audit_statistics
from clipmem.plan.spec import Plan
from clipmem.scoring.reliability import split_half
from clipmem.scoring.statistics import SampleStatistics


@dataclass(frozen=True)
class AuditResult:
    """Per audited pair (N,): every ``statistics`` value, ``suspicion`` (the configured one), ``probability`` of a
    wrong caption, ``flagged``, ``block`` (the pairs it was ranked among) and ``overlap`` with the base model's data
    ("" none, ``exact``, ``near``, ``unknown``); the mixture ``fit``, the ranking's ``reliability``, the interval
    of the estimated number of wrong pairs (the count's Poisson interval, or the mixture's bootstrap one; NaN when the
    user's ``prior`` fixed the share) and the mid-ranks
    ``ranks`` the mixture was fitted to, with the ``groups`` (N,) they are read in (None: one group, as for every
    statistic but ``rank_by_familiarity`` and ``consensus``) and each pair's group's ``weights`` (N,), how common
    wrong pairs are there (None: as common in every group). The share of wrong pairs is the user's ``prior``, else
    the ``count`` among familiar pairs (``clipmem.audit.count``), else (no count possible) the mixture's;
    ``mixture_wrong`` is the free mixture's own N·π, kept for comparison."""

    statistic: str
    statistics: dict[str, torch.Tensor]
    suspicion: torch.Tensor
    probability: torch.Tensor
    flagged: torch.Tensor
    block: torch.Tensor
    fit: MixtureFit
    reliability: dict[str, float]
    wrong_interval: tuple[float, float]
    min_probability: float
    ranks: torch.Tensor
    prior: float | None = None
    groups: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    overlap: list[str] = field(default_factory=list)
    count: FamiliarCount | None = None
    mixture_wrong: float = math.nan

    def count_method(self) -> str:
        """Where the share of wrong pairs came from: ``prior``, ``familiar_pairs`` or ``mixture``."""
        return "prior" if self.prior is not None else "familiar_pairs" if self.count is not None else "mixture"

    def rank_order_name(self) -> str:
        """The statistic a review counts along: the suspicion where it is a rank order, else (``consensus``) the
        ``rank_by_familiarity`` its probabilities come from."""
        return self.statistic if self.statistic in RANK_ORDER_STATISTICS else "rank_by_familiarity"

    def rank_order(self) -> torch.Tensor:
        """(N,) the values of ``rank_order_name``, higher = earlier in a review."""
        return self.statistics[self.rank_order_name()]

    def wrong_count(self) -> float:
        """N·π: the estimated number of wrong pairs (the quantity ``wrong_interval`` is for). The probabilities sum
        to less where π / f_g(u) is capped at 1, so their sum is not used as the count."""
        if self.count is not None:
            return self.count.estimate  # π is that share clipped into (0, 1), which a count of 0 is not
        return float(self.fit.wrong_fraction) * len(self.suspicion)

    def estimate_at_bound(self) -> bool:
        """Whether the estimated share (not a prior) ran to the fit's lower bound (``MixtureFit.at_lower_bound``)."""
        return self.prior is None and self.fit.at_lower_bound

    @cached_property
    def wrong_upper(self) -> float:
        """Storey's bound on the number of wrong pairs (``wrong_upper_bound`` · N), an over-estimate on average."""
        return wrong_upper_bound(self.ranks.numpy()) * len(self.suspicion)

    def estimate_above_bound(self) -> bool:
        """Whether the estimated count (not a prior) exceeds Storey's bound (``wrong_upper``), which over-estimates
        the number of wrong pairs on average whatever the correct pairs' ranks: the count's region then most likely
        holds correct pairs the models cannot tell from wrong ones (models too little trained, or too weak)."""
        return self.prior is None and self.wrong_count() > self.wrong_upper

    def estimate_stable(self) -> bool:
        """Whether the estimated count is statistically stable: its interval is narrower than the estimate, and the
        estimate is not at the fit's lower bound (where most resamples stay too, however many pairs are wrong).
        Stable is not unbiased: the count among familiar pairs rests on the wrong captions ranking like the
        captions of unlike images, the mixture's on the correct pairs' fitted shape
        (docs/audit.md, "How many are wrong")."""
        if self.estimate_at_bound() or self.estimate_above_bound():
            return False
        low, high = self.wrong_interval
        return bool(high - low <= max(self.wrong_count(), 1.0))

    @cached_property
    def expected_recall(self) -> float:
        """The share of the wrong pairs the flags hold, were wrong pairs to rank uniformly in each familiarity group
        as common as its weight says (``flag_recall``)."""
        return flag_recall(self.ranks.numpy(), self.flagged.numpy(), *self._read_in())

    def expected_precision_at(self, wrong_fraction: float) -> float:
        """The flags' expected precision were the share of wrong pairs ``wrong_fraction`` (NaN where it is not
        finite or nothing is flagged): π N recall / #flagged, with the recall of the flags as they are."""
        return precision_of_flags(wrong_fraction, self.expected_recall, int(self.flagged.sum()),
                                  len(self.suspicion))

    def _read_in(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The familiarity ``groups`` and ``weights`` (each (N,), or None) the ranks are read in, as numpy."""
        return tuple(None if v is None else v.numpy() for v in (self.groups, self.weights))

    def _count_metrics(self) -> dict[str, Any]:
        """metrics.json's keys of the count among familiar pairs: how many rows lie in its region, the share of
        wrong pairs expected there, and the region's settings."""
        where = self.count.where
        return {"audit_count_observed": self.count.observed, "audit_count_null_share": self.count.null_share,
                "audit_count_familiar_quantile": where.familiar_quantile,
                "audit_count_rank_threshold": where.rank_threshold}

    def expected_precision_interval(self) -> tuple[float, float]:
        """The flags' expected precision at the ends of the estimated count's interval (``wrong_interval``): the
        precision is π N recall / #flagged, so the count's uncertainty carries over to it in proportion (NaN for a
        prior, which has no interval)."""
        n = len(self.suspicion)
        return self.expected_precision_at(self.wrong_interval[0] / n), self.expected_precision_at(
            self.wrong_interval[1] / n)

    def metrics(self) -> dict[str, Any]:
        """metrics.json's ``audit_*`` keys."""
        n, flagged = len(self.suspicion), int(self.flagged.sum())
        groups = self._read_in()[0]
        expected = self.expected_precision_at(self.fit.wrong_fraction)
        expected_low, expected_high = self.expected_precision_interval()
        return {
            "audit_count_method": self.count_method(), "audit_mixture_wrong": self.mixture_wrong,
            **(self._count_metrics() if self.count is not None else {}),
            "audit_statistic": self.statistic, "audit_rank_order": self.rank_order_name(), "audit_rows": n,
            "audit_min_probability": self.min_probability,
            "audit_wrong_fraction_prior": self.prior, "audit_wrong_upper": self.wrong_upper,
            "audit_expected_recall": self.expected_recall,
            "audit_familiarity_groups": 1 if groups is None else len(np.unique(groups)),
            "audit_estimated_wrong": self.wrong_count(), "audit_estimated_wrong_fraction":
                self.fit.wrong_fraction, "audit_estimated_wrong_low": self.wrong_interval[0],
            "audit_estimated_wrong_high": self.wrong_interval[1],
            "audit_estimate_stable": self.estimate_stable(), "audit_estimate_at_bound": self.estimate_at_bound(),
            "audit_estimate_above_upper": self.estimate_above_bound(),
            "audit_correct_rank_mean": self.fit.correct_mean,
            "audit_num_flagged": flagged,
            "audit_expected_precision": expected, "audit_expected_precision_low": expected_low,
            "audit_expected_precision_high": expected_high,
            "audit_expected_flagged_wrong": float(self.probability[self.flagged].sum()),
            "audit_mixture_a": self.fit.a, "audit_mixture_b": self.fit.b,
            "audit_mixture_converged": self.fit.converged,
            "audit_reliability": self.reliability["reliability"], "audit_reliability_low": self.reliability["low"],
            "audit_reliability_high": self.reliability["high"], "audit_reliability_rho": self.reliability["rho"],
            "audit_oof_r1": float((self.statistics["rank_caption"] * self.statistics["compared"] <= 1).double().mean()),
            **({"audit_base_overlap": sum(o in ("exact", "near") for o in self.overlap)}
               if any(self.overlap) else {}),
        }


def wrong_count_interval(u: np.ndarray, fit: MixtureFit, draws: int, seed: int, level: float = 0.95
                         ) -> tuple[float, float]:
    """Percentile bootstrap interval of N·π over resamples of the audited pairs (the mixture refitted each time,
    starting from ``fit``)."""
    rng = np.random.default_rng([int(seed), 0xE57])
    counts = [fit_mixture(u[rng.integers(len(u), size=len(u))], fit).wrong_fraction * len(u) for _ in range(draws)]
    tail = (1 - level) / 2
    return float(np.quantile(counts, tail)), float(np.quantile(counts, 1 - tail))


def estimate_audit(stats: list[SampleStatistics], plan: Plan, config: AuditConfig,
                   overlap: list[str] | None = None) -> AuditResult:
    """The audit of ``plan``'s scored pairs from its models' ``stats`` (in plan order)."""
    membership = plan.membership()
    values = audit_statistics(stats, membership, config.group_size)
    u = mid_rank(values[config.probability_statistic], values["compared"]).numpy()
    read_in = values["familiarity_group"].long().numpy() if config.grouped else np.zeros(len(u), dtype=np.int64)
    weights = values["familiarity_weight"].numpy() if config.grouped else None
    prior = None if config.wrong_fraction is None else float(config.wrong_fraction)
    free = fit_mixture(u)
    where = CountRegion(config.count_familiar_quantile, config.count_rank_threshold)
    count = None if prior is not None else counted_among_familiar(stats, membership, values, where)
    share = prior if count is None else familiar_count_fraction(count, len(u))
    if share is not None and math.isnan(share):  # no familiar caption to count with: the mixture's own share
        count, share = None, None
    fit = free if share is None else fit_mixture(u, wrong_fraction=share)
    interval = (math.nan, math.nan) if prior is not None else (count.low, count.high) if count is not None else \
        wrong_count_interval(u, free, config.bootstrap_draws, plan.seed)
    probability = torch.from_numpy(grouped_probability(u, read_in, fit.wrong_fraction, weights))
    groups = torch.tensor(plan.groups) if plan.groups else torch.arange(len(plan.specs))

    def suspicion_of(units: list[int]) -> torch.Tensor:
        chosen = torch.isin(groups, torch.tensor(units))
        subset = [s for s, keep in zip(stats, chosen.tolist(), strict=True) if keep]
        return audit_statistics(subset, membership[chosen], config.group_size)[config.statistic]

    reliability = split_half(suspicion_of, torch.unique(groups).tolist(), config.reliability_partitions,
                             seed=plan.seed)
    return AuditResult(
        statistic=config.statistic, statistics=values, suspicion=values[config.statistic], probability=probability,
        flagged=probability >= config.min_probability, block=values["cell"].long(), fit=fit, reliability=reliability,
        wrong_interval=interval, min_probability=float(config.min_probability), ranks=torch.from_numpy(u),
        groups=torch.from_numpy(read_in), weights=None if weights is None else torch.from_numpy(weights),
        prior=prior, overlap=overlap or [""] * len(values["compared"]),
        count=count, mixture_wrong=free.wrong_fraction * len(u))


def counted_among_familiar(stats: list[SampleStatistics], membership: torch.Tensor,
                           values: dict[str, torch.Tensor], where: CountRegion) -> FamiliarCount:
    """``familiar_count`` ``where`` says, from the models' embeddings (M, N, D; in plan order), ``membership`` (M, N)
    and the images' and captions' familiarity (N,) that ``audit_statistics`` computed (``values``)."""
    image, text = torch.stack([s.image for s in stats]), torch.stack([s.text for s in stats])
    return familiar_count(image, text, membership, values["image_familiarity"], values["caption_familiarity"], where)
