"""How many pairs are wrong, and how sure a flag is: a two-component mixture over rank p-values.

A wrong caption ranks uniformly among the captions the models never saw (``clipmem.audit.ranks``); a correct one
ranks near the top. The mid-rank u of every audited pair is modelled as

    f(u) = π · 1 + (1 − π) · Beta(u; a, b),   a ≤ 1 ≤ b   (correct pairs: a decreasing density),

with the uniform (wrong-caption) component fixed and π, a, b fitted by maximum likelihood. ``posterior`` is the
probability that a pair is wrong, π·1 / f(u); N·π is the expected number of wrong pairs (the analogue of
cleanlab's count of label issues); the mean posterior of a flagged set is its expected precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

SHAPE_BOUNDS = ((0.02, 1.0), (1.0, 200.0))  # a ≤ 1 ≤ b: the correct pairs' density falls from u = 0 to u = 1


@dataclass(frozen=True)
class MixtureFit:
    """``wrong_fraction`` π, the correct pairs' Beta(``a``, ``b``), whether the optimiser ``converged`` and the
    mean log-likelihood per pair."""

    wrong_fraction: float
    a: float
    b: float
    converged: bool
    loglik: float


def beta_logpdf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    return (a - 1) * np.log(u) + (b - 1) * np.log1p(-u) - special.betaln(a, b)


def _mean_loglik(params: np.ndarray, log_u: np.ndarray, log_v: np.ndarray) -> float:
    pi, a, b = params
    correct = (a - 1) * log_u + (b - 1) * log_v - special.betaln(a, b)
    return float(np.logaddexp(np.log(pi), np.log1p(-pi) + correct).mean())


def fit_mixture(u: np.ndarray, start: MixtureFit | None = None) -> MixtureFit:
    """Maximum-likelihood π, a, b on mid-ranks ``u`` (N,) in (0, 1) (the EM's fixed point, found directly by
    L-BFGS-B within the bounds): the best of a few starting values of π, or one run from ``start``."""
    u = np.clip(np.asarray(u, dtype=np.float64), 1e-9, 1 - 1e-9)
    if u.size < 2:
        raise ValueError(f"the mixture needs at least 2 ranked pairs, got {u.size}")
    log_u, log_v = np.log(u), np.log1p(-u)
    bounds = ((1e-6, 1 - 1e-6), *SHAPE_BOUNDS)
    points = [(0.05, 0.5, 2.0), (0.2, 0.5, 2.0), (0.5, 0.5, 2.0)] if start is None else \
        [(float(np.clip(start.wrong_fraction, 1e-4, 1 - 1e-4)), start.a, start.b)]
    best = None
    for point in points:
        found = optimize.minimize(lambda x: -_mean_loglik(x, log_u, log_v), np.array(point), method="L-BFGS-B",
                                  bounds=bounds)
        if best is None or found.fun < best.fun:
            best = found
    pi, a, b = (float(v) for v in best.x)
    return MixtureFit(pi, a, b, bool(best.success), -float(best.fun))


def posterior(u: np.ndarray, fit: MixtureFit) -> np.ndarray:
    """(N,) probability that each pair's caption is wrong (belongs to the uniform component)."""
    u = np.clip(np.asarray(u, dtype=np.float64), 1e-9, 1 - 1e-9)
    correct = (1 - fit.wrong_fraction) * np.exp(beta_logpdf(u, fit.a, fit.b))
    return fit.wrong_fraction / (fit.wrong_fraction + correct)
