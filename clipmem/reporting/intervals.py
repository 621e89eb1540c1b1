"""Intervals that stay on their metric's scale: a t-interval for scores, a logit-scale t-interval for
proportions (AUCs, accuracies: inside [0, 1]), Garwood's exact Poisson interval for counts; Holm's correction
(docs/sweeps.md, "Settings with error bars")."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats as scipy_stats


def metric_kind(metric: str) -> str:
    """How a metric is summarised over seeds: ``proportion`` (AUCs and accuracies, in [0, 1]: a t-interval on the
    logit scale, mapped back), ``count`` (``num_*``: an exact Poisson interval) or ``score`` (a t-interval)."""
    if metric.startswith("num_"):
        return "count"
    if metric.endswith("_auc") or "_auc_" in metric or metric.startswith(("zeroshot_", "linear_probe_", "retrieval_")):
        return "proportion"
    return "score"


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values and its ``level`` interval (NaN bounds for n < 2): a t-interval for scores, on the logit
    scale for proportions (so it stays in [0, 1]), an exact Poisson interval of the mean for counts. ``p_value``: a
    one-sample t-test of mean 0 (what a paired difference is tested with; NaN without spread)."""

    mean: float
    low: float
    high: float
    n: int
    p_value: float = math.nan

    @classmethod
    def of(cls, values: list[float], level: float = 0.95, kind: str = "score") -> Interval:
        n = len(values)
        mean = statistics.fmean(values)
        if kind == "count":
            return cls.poisson(values, level)
        if n < 2:
            return cls(mean, math.nan, math.nan, n)
        quantile = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1))
        if kind == "proportion":
            z = [_logit(v) for v in values]
            centre, half = statistics.fmean(z), quantile * statistics.stdev(z) / math.sqrt(n)
            expit = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
            return cls(mean, expit(centre - half), expit(centre + half), n)
        sd = statistics.stdev(values)
        if sd <= 1e-12 * max(1.0, abs(mean)):  # equal up to float rounding: no spread
            sd = 0.0
        half = quantile * sd / math.sqrt(n)
        p = float(2 * scipy_stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1)) if sd > 0 else math.nan
        return cls(mean, mean - half, mean + half, n, p)

    @classmethod
    def poisson(cls, counts: list[float], level: float = 0.95) -> Interval:
        """Mean count per seed with Garwood's exact interval for a Poisson total over ``n`` seeds."""
        n, total = len(counts), sum(counts)
        tail = (1 - level) / 2
        low = 0.0 if total == 0 else float(scipy_stats.chi2.ppf(tail, 2 * total)) / 2
        high = float(scipy_stats.chi2.ppf(1 - tail, 2 * total + 2)) / 2
        return cls(total / n, low / n, high / n, n)

    def clipped(self, low: float, high: float) -> Interval:
        """The same interval kept within [low, high] (a difference of proportions lies in [−1, 1])."""
        return Interval(self.mean, max(low, self.low), min(high, self.high), self.n, self.p_value)

    def excludes(self, value: float) -> bool:
        """True when the interval has positive width and lies wholly above or below ``value`` (a zero-width interval
        claims nothing: it only says the seeds agreed)."""
        return self.high > self.low and (self.low > value or self.high < value)


def holm(p_values: list[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down correction: which of the p-values (NaN: untested) are rejected at family-wise ``alpha``."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p == p)
    rejected = [False] * len(p_values)
    for rank, (p, i) in enumerate(tested):
        if p > alpha / (len(tested) - rank):
            break
        rejected[i] = True
    return rejected
