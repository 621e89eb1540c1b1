"""Estimators over many models and how sure they are (docs/method.md, "Estimators and uncertainty").

Inputs are per-model statistics ``values`` (M, N) — L_m(x) = A_m(x) − C_m(x) of model m on sample x — and
a boolean ``membership`` (M, N): model m trained on x. ``groups`` (M,) int assigns models to resampling
units: a complementary pair (f/g, or two models trained on the two halves of one random split of the pool)
is one unit, so every unit holds exactly one model that saw x and one that did not.

* in/out memorization ``mem(x) = mean_{m∋x} L_m(x) − mean_{m∌x} L_m(x)`` (Feldman and Zhang 2020, for CLIP);
* consistency ``mean_{m∌x} L_m(x)``: how well models that never saw x align it (Jiang et al. 2021's C-score);
* intervals: a t-interval over the units' in−out differences, or a percentile bootstrap over units;
* reliability: ``clipmem.scoring.reliability`` (split-half over the units, Spearman–Brown 2ρ/(1+ρ));
* replicate agreement: mean pairwise Spearman and the intraclass correlation ICC(1) of the units' scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy import stats as scipy_stats

from clipmem.scoring.clipmem import clipmem_raw

CI_METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class InOutEstimate:
    """Per-sample estimates, each (N,) float64: ``memorization`` (raw, in − out), ``consistency`` (mean over
    models that did not see the sample), ``stderr``, the interval ``low``/``high`` at ``level``, and the
    number of models that did (``n_in``) and did not (``n_out``) train on it."""

    memorization: torch.Tensor
    consistency: torch.Tensor
    stderr: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    n_in: torch.Tensor
    n_out: torch.Tensor
    level: float


def in_out_means(values: torch.Tensor, membership: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` (M, N) over the models that trained on each sample, and over those that did not
    (each (N,); NaN where a sample has no such model)."""
    member = membership.to(values.dtype)
    outside = 1.0 - member
    return ((values * member).sum(0) / member.sum(0), (values * outside).sum(0) / outside.sum(0))


def unit_differences(values: torch.Tensor, membership: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """(K, N): per unit k, mean L of its models that saw x minus mean L of those that did not (NaN where a
    unit lacks one side for x). With complementary pairs: L_in(x) − L_out(x) of the pair."""
    return torch.stack([torch.sub(*in_out_means(values[groups == g], membership[groups == g]))
                        for g in torch.unique(groups)])


def t_interval(differences: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, ...]:
    """Mean, standard error and the ``level`` t-interval (each (N,)) of K per-unit differences (K, N).

    With one unit the standard error and interval are NaN: a single pair says nothing about its spread.
    """
    k = differences.shape[0]
    mean = differences.mean(0)
    if k < 2:
        nan = torch.full_like(mean, float("nan"))
        return mean, nan, nan.clone(), nan.clone()
    stderr = differences.std(0, unbiased=True) / math.sqrt(k)
    half = float(scipy_stats.t.ppf(0.5 + level / 2, df=k - 1)) * stderr
    return mean, stderr, mean - half, mean + half


def bootstrap_interval(values: torch.Tensor, membership: torch.Tensor, groups: torch.Tensor, level: float = 0.95,
                       draws: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Percentile interval (low, high), each (N,), of in/out memorization over ``draws`` resamples of the
    units (with replacement). Samples left without an in or out model in a resample are skipped there."""
    diffs = unit_differences(values, membership, groups)  # (K, N)
    k = diffs.shape[0]
    generator = torch.Generator().manual_seed(int(seed))
    picks = torch.randint(k, (draws, k), generator=generator)
    resampled = diffs[picks]  # (draws, K, N)
    estimates = torch.nanmean(resampled, dim=1)  # units are balanced: the in/out difference is their mean
    tail = (1.0 - level) / 2
    return torch.nanquantile(estimates, tail, dim=0), torch.nanquantile(estimates, 1.0 - tail, dim=0)


@dataclass(frozen=True)
class IntervalSpec:
    """How a per-sample interval is made: ``ci`` (``t`` over the units, or a percentile ``bootstrap`` of ``draws``
    resamples) at ``level``."""

    ci: str = "t"
    level: float = 0.95
    draws: int = 2000

    def __post_init__(self) -> None:
        if self.ci not in CI_METHODS:
            raise ValueError(f"ci must be one of {CI_METHODS}, got {self.ci!r}")


def estimate_in_out(values: torch.Tensor, membership: torch.Tensor, groups: torch.Tensor,
                    interval: IntervalSpec = IntervalSpec(), seed: int = 0) -> InOutEstimate:
    """In/out memorization, consistency and an interval for every sample (see the module docstring)."""
    values, membership = values.double(), membership.bool()
    in_mean, out_mean = in_out_means(values, membership)
    diffs = unit_differences(values, membership, groups)
    _, stderr, low, high = t_interval(diffs, interval.level)
    if interval.ci == "bootstrap":
        low, high = bootstrap_interval(values, membership, groups, interval.level, interval.draws, seed)
    return InOutEstimate(clipmem_raw(in_mean, out_mean), out_mean, stderr, low, high, membership.sum(0),
                         (~membership).sum(0), interval.level)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two (N,) vectors (average ranks for ties); NaN entries dropped pairwise."""
    keep = ~(torch.isnan(a) | torch.isnan(b))
    if int(keep.sum()) < 3:
        return float("nan")
    return float(scipy_stats.spearmanr(a[keep].numpy(), b[keep].numpy()).statistic)


def spearman_brown(rho: float) -> float:
    """The reliability of the full set from the correlation ρ of its two halves: 2ρ / (1 + ρ) for ρ ≥ 0, and ρ itself
    below 0, where there is no agreement to step up (2ρ / (1 + ρ) would leave [−1, 1] for ρ < −⅓); continuous and
    increasing in ρ, so a bootstrap interval maps through it. NaN for NaN."""
    if rho != rho:
        return float("nan")
    return 2 * rho / (1 + rho) if rho >= 0 else float(rho)


def mean_pairwise_spearman(differences: torch.Tensor) -> float:
    """Mean Spearman correlation between every two units' scores (K, N): how stably they rank samples."""
    k = differences.shape[0]
    pairs = [spearman(differences[i], differences[j]) for i in range(k) for j in range(i + 1, k)]
    return float(sum(pairs) / len(pairs)) if pairs else float("nan")


@dataclass(frozen=True)
class OneWayAnova:
    """Mean squares of a one-way random-effects ANOVA over ``groups`` groups of ``total`` values: between groups
    (``msb``, a − 1 degrees of freedom), within (``msw``, N − a), and the mean group size
    n₀ = (N − Σ n_i² / N) / (a − 1) (n when balanced); with the group ``means`` and the ``grand`` mean."""

    groups: int
    total: int
    msb: float
    msw: float
    n0: float
    means: tuple[float, ...]
    grand: float


def oneway_anova(groups: Sequence[Sequence[float]]) -> OneWayAnova:
    """The mean squares of ``groups`` (one sequence of values per group; sizes may differ; ≥ 2 groups and more
    values than groups)."""
    a, sizes = len(groups), [len(g) for g in groups]
    total = sum(sizes)
    if a < 2 or total <= a:
        raise ValueError(f"a one-way ANOVA needs ≥ 2 groups and more values than groups (got sizes {sizes})")
    means = [math.fsum(g) / len(g) for g in groups]
    grand = math.fsum(math.fsum(g) for g in groups) / total
    msb = math.fsum(n * (m - grand) ** 2 for n, m in zip(sizes, means, strict=True)) / (a - 1)
    msw = math.fsum((x - m) ** 2 for g, m in zip(groups, means, strict=True) for x in g) / (total - a)
    n0 = (total - sum(n * n for n in sizes) / total) / (a - 1)
    return OneWayAnova(a, total, msb, msw, n0, tuple(means), grand)


def icc_oneway(differences: torch.Tensor) -> float:
    """ICC(1) of K repeated scores per sample (K, N): the share of score variance that is between samples,
    (MSB − MSW) / (MSB + (K − 1)·MSW) from a one-way random-effects ANOVA. NaN for K < 2."""
    k, n = differences.shape
    if k < 2 or n < 2:
        return float("nan")
    anova = oneway_anova(differences.double().T.tolist())
    return float((anova.msb - anova.msw) / (anova.msb + (k - 1) * anova.msw))
