"""How much of a metric's spread over a sweep comes from the data split and how much from the training seed.

A sweep over ``data.split_seed`` and ``seed`` gives, for each split i = 1..a, n_i runs that differ only in the
training seed. A one-way random-effects ANOVA with seeds nested in splits,

    x_ij = μ + s_i + e_ij,   s_i ~ (0, σ²_split),   e_ij ~ (0, σ²_seed),

estimates σ²_seed = MSW and σ²_split = max(0, (MSB − MSW) / n₀) (n₀ = (N − Σn_i²/N) / (a − 1), n when
balanced). The split's share of the variance, σ²_split / (σ²_split + σ²_seed), is ICC(1) of the splits; its
interval is Searle's exact F interval for a balanced layout (approximate otherwise), clipped to [0, 1]. The
mean over all runs gets a t-interval over the a split means (the splits are the independent units; on the
logit scale for proportions, as everywhere else in the sweep tables).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as scipy_stats

from clipmem.reporting.intervals import Interval
from clipmem.scoring.uncertainty import oneway_anova


@dataclass(frozen=True)
class VarianceSplit:
    """One metric over a split × seed layout: ``splits`` (a), ``runs`` (N) and ``seeds`` (runs per split); the
    mean over runs with its interval over the split means; standard deviations between splits (``sd_split``)
    and between seeds within a split (``sd_seed``), in the metric's unit; the split's share of the variance with
    its interval; the F test's p-value of no split effect."""

    splits: int
    runs: int
    seeds: tuple[int, ...]
    mean: Interval
    sd_split: float
    sd_seed: float
    split_share: float
    share_low: float
    share_high: float
    p_split: float


def split_variance(groups: list[list[float]], kind: str = "score", level: float = 0.95) -> VarianceSplit:
    """The decomposition of ``groups`` (one list of per-seed values per split; at least 2 splits, each with at
    least 2 seeds). ``kind``: the metric's kind for the mean's interval (``score``, ``proportion``, ``count``)."""
    if len(groups) < 2 or any(len(g) < 2 for g in groups):
        raise ValueError("a split × seed decomposition needs ≥ 2 splits with ≥ 2 seeds each")
    anova = oneway_anova(groups)
    a, sizes, total, msb, msw, n0 = anova.groups, [len(g) for g in groups], anova.total, anova.msb, anova.msw, anova.n0
    if msw <= (1e-12 * max(1.0, abs(anova.grand))) ** 2:  # equal up to float rounding: no spread between seeds
        msw = 0.0
    var_split = max(0.0, (msb - msw) / n0)
    share = var_split / (var_split + msw) if var_split + msw > 0 else math.nan
    df1, df2 = a - 1, total - a
    low, high, p = math.nan, math.nan, math.nan
    if msw > 0:
        f = msb / msw
        p = float(scipy_stats.f.sf(f, df1, df2))
        tail = (1 - level) / 2
        f_low = f / float(scipy_stats.f.ppf(1 - tail, df1, df2))
        f_high = f / float(scipy_stats.f.ppf(tail, df1, df2))
        low = min(1.0, max(0.0, (f_low - 1) / (f_low + n0 - 1)))
        high = min(1.0, max(0.0, (f_high - 1) / (f_high + n0 - 1)))
    return VarianceSplit(a, total, tuple(sizes), Interval.of(list(anova.means), level, kind), math.sqrt(var_split),
                         math.sqrt(msw), share, low, high, p)
