"""How many pairs are wrong, and how sure a flag is: a two-component mixture over rank p-values.

A wrong caption ranks uniformly among the captions the models never saw (``clipmem.audit.ranks``); a correct one
ranks near the top. The mid-rank u of every audited pair is modelled as

    f(u) = π · 1 + (1 − π) · Beta(u; a, b),   a ≤ 1 ≤ b   (correct pairs: a decreasing density),

with the uniform (wrong-caption) component fixed and π, a, b fitted by maximum likelihood (or π given as a prior).
N·π is the estimated number of wrong pairs (the analogue of cleanlab's count of label issues), an upper estimate
when correct pairs rank low. The audit's probability per pair is ``local_probability``: π / f(u) with f estimated
without the Beta shape (Grenander); ``expected_precision`` and ``flag_recall`` follow from the uniform component
alone (within groups of like familiarity too: ``clipmem.audit.familiarity``); ``posterior`` is the Beta mixture's own
posterior (its mean over all pairs is π at the maximum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

SHAPE_BOUNDS = ((0.02, 1.0), (1.0, 200.0))  # a ≤ 1 ≤ b: the correct pairs' density falls from u = 0 to u = 1
SHARE_BOUNDS = (1e-6, 1 - 1e-6)


@dataclass(frozen=True)
class MixtureFit:
    """``wrong_fraction`` π, the correct pairs' Beta(``a``, ``b``), whether the optimiser ``converged`` and the
    mean log-likelihood per pair."""

    wrong_fraction: float
    a: float
    b: float
    converged: bool
    loglik: float

    @property
    def at_lower_bound(self) -> bool:
        """Whether π ran to (within 10 times) its lower bound: the Beta took in every low rank, which happens with or
        without wrong pairs, so the fit says nothing about how many there are."""
        return self.wrong_fraction <= 10 * SHARE_BOUNDS[0]

    @property
    def correct_mean(self) -> float:
        """The correct pairs' mean rank under the fit, a / (a + b): near 0 when the models recognise their captions."""
        return self.a / (self.a + self.b)


def beta_logpdf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    return (a - 1) * np.log(u) + (b - 1) * np.log1p(-u) - special.betaln(a, b)


def _mean_loglik(params: np.ndarray, log_u: np.ndarray, log_v: np.ndarray) -> float:
    pi, a, b = params
    correct = (a - 1) * log_u + (b - 1) * log_v - special.betaln(a, b)
    return float(np.logaddexp(np.log(pi), np.log1p(-pi) + correct).mean())


def fit_mixture(u: np.ndarray, start: MixtureFit | None = None, wrong_fraction: float | None = None) -> MixtureFit:
    """Maximum-likelihood π, a, b on mid-ranks ``u`` (N,) in (0, 1) (the EM's fixed point, found directly by
    L-BFGS-B within the bounds): the best of a few starting values of π, or one run from ``start``. A given
    ``wrong_fraction`` fixes π (the user's prior) and fits only the correct pairs' a, b."""
    u = np.clip(np.asarray(u, dtype=np.float64), 1e-9, 1 - 1e-9)
    if u.size < 2:
        raise ValueError(f"the mixture needs at least 2 ranked pairs, got {u.size}")
    log_u, log_v = np.log(u), np.log1p(-u)
    fixed = wrong_fraction is not None
    bounds = ((wrong_fraction, wrong_fraction) if fixed else SHARE_BOUNDS, *SHAPE_BOUNDS)
    if fixed:
        start = MixtureFit(float(wrong_fraction), 0.5, 2.0, True, 0.0)
    points = [(0.05, 0.5, 2.0), (0.2, 0.5, 2.0), (0.5, 0.5, 2.0)] if start is None else \
        [(start.wrong_fraction if fixed else float(np.clip(start.wrong_fraction, 1e-4, 1 - 1e-4)), start.a, start.b)]
    best = None
    for point in points:
        found = optimize.minimize(lambda x: -_mean_loglik(x, log_u, log_v), np.array(point), method="L-BFGS-B",
                                  bounds=bounds)
        if best is None or found.fun < best.fun:
            best = found
    pi, a, b = (float(v) for v in best.x)
    return MixtureFit(pi, a, b, bool(best.success), -float(best.fun))


def posterior(u: np.ndarray, fit: MixtureFit) -> np.ndarray:
    """(N,) probability that each pair's caption is wrong under the fitted Beta mixture."""
    u = np.clip(np.asarray(u, dtype=np.float64), 1e-9, 1 - 1e-9)
    correct = (1 - fit.wrong_fraction) * np.exp(beta_logpdf(u, fit.a, fit.b))
    return fit.wrong_fraction / (fit.wrong_fraction + correct)


def decreasing_density(u: np.ndarray) -> np.ndarray:
    """(N,) Grenander's estimate of a non-increasing density on [0, 1] at each ``u``: the slopes of the least concave
    majorant of the empirical distribution function (no shape beyond monotonicity is assumed)."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    order = np.argsort(u, kind="stable")
    xs = np.concatenate([[0.0], u[order]])  # the majorant ends at the largest u: no flat piece up to (1, 1)
    ys = np.concatenate([[0.0], np.arange(1, u.size + 1) / u.size])
    hull: list[int] = [0]
    for i in range(1, len(xs)):  # upper hull, left to right: pop while the last point lies under the new chord
        while len(hull) >= 2 and _cross(xs, ys, hull[-2], hull[-1], i) >= 0:
            hull.pop()
        hull.append(i)
    slopes = np.empty(len(xs))
    for left, right in zip(hull[:-1], hull[1:], strict=True):
        width = xs[right] - xs[left]
        slopes[left + 1:right + 1] = (ys[right] - ys[left]) / width if width > 0 else np.inf
    density = np.empty(u.size)
    density[order] = slopes[1:]
    return density


def _cross(xs: np.ndarray, ys: np.ndarray, a: int, b: int, c: int) -> float:
    """> 0 when point b lies below the chord from a to c (so b is not on the concave majorant)."""
    return (xs[b] - xs[a]) * (ys[c] - ys[a]) - (ys[b] - ys[a]) * (xs[c] - xs[a])


def local_probability(u: np.ndarray, wrong_fraction: float) -> np.ndarray:
    """(N,) probability that each pair is wrong: π · 1 / f(u), the uniform share of the density at u (f: Grenander's
    estimate), at most 1."""
    return uniform_share(decreasing_density(u), wrong_fraction)


def uniform_share(density: np.ndarray, wrong_fraction: float) -> np.ndarray:
    """(N,) π / f, at most 1: the share of a ``density`` (N,) of the ranks that the uniform wrong pairs make up."""
    return np.minimum(1.0, wrong_fraction / np.maximum(np.asarray(density, dtype=np.float64), 1e-12))


def expected_precision(u: np.ndarray, flagged: np.ndarray, wrong_fraction: float,
                       groups: np.ndarray | None = None, weights: np.ndarray | None = None) -> float:
    """Expected share of wrong pairs among ``flagged`` (N,) bool, flags being every u ≥ the smallest flagged one
    (within each of ``groups`` (N,), when given): π · N · ``flag_recall`` wrong pairs lie there (they rank uniformly
    within a group, as common in each as its ``weights`` say), out of the number flagged."""
    flagged = np.asarray(flagged, dtype=bool)
    if not flagged.any():
        return float("nan")
    return precision_of_flags(wrong_fraction, flag_recall(u, flagged, groups, weights), int(flagged.sum()),
                              flagged.size)


def precision_of_flags(wrong_fraction: float, recall: float, flagged: int, rows: int) -> float:
    """π · ``rows`` · ``recall`` / ``flagged``, at most 1: the share of wrong pairs among ``flagged`` flags that hold
    that ``recall`` of the π · ``rows`` wrong pairs (NaN where nothing is flagged or π is not finite)."""
    if flagged < 1 or not math.isfinite(wrong_fraction):
        return math.nan
    return float(min(1.0, wrong_fraction * rows * recall / flagged))


def wrong_upper_bound(u: np.ndarray, threshold: float = 0.5) -> float:
    """Storey's bound on the fraction of wrong pairs: #{u > λ} / (N (1 − λ)). Wrong captions rank uniformly, correct
    ones no worse than uniformly, so this over-estimates π in expectation whatever the correct pairs' distribution
    (the mixture's π needs the Beta shape to hold; this bound does not)."""
    u = np.asarray(u, dtype=np.float64)
    return float(min(1.0, (u > threshold).sum() / (u.size * (1 - threshold))))


def flag_recall(u: np.ndarray, flagged: np.ndarray, groups: np.ndarray | None = None,
                weights: np.ndarray | None = None) -> float:
    """The expected share of the wrong pairs that ``flagged`` (N,) bool catches, when flags are all pairs with
    u ≥ the smallest flagged u (within each of ``groups`` (N,), when given): 1 − that u, or Σ_g w_g N_g / N · (1 − t_g)
    over the groups (wrong captions rank uniformly, and are w_g times as common in group g as pairs are: ``weights``
    (N,), each pair's group's, None: 1; no assumption on the correct ones)."""
    u, flagged = np.asarray(u, dtype=np.float64), np.asarray(flagged, dtype=bool)
    groups = np.zeros(u.size, dtype=np.int64) if groups is None else np.asarray(groups)
    weights = np.ones(u.size) if weights is None else np.asarray(weights, dtype=np.float64)
    recall = 0.0
    for group in np.unique(groups[flagged]):
        chosen = groups == group
        recall += (weights * chosen).mean() * (1 - u[flagged & chosen].min())
    return float(recall)
