"""DeLong's test: two AUCs measured on the same samples, compared with their covariance (DeLong, DeLong and
Clarke-Pearson 1988), computed from the structural components in O(N log N) (Sun and Xu 2014).

For positives X (scores of flagged samples) and negatives Y, the AUC is the mean of ψ(x, y) (1 if x > y, ½ on a
tie, 0 otherwise); V10(x) = mean_y ψ(x, y) and V01(y) = mean_x ψ(x, y) are its structural components, and
Var(AUC) = S10/m + S01/n with S10, S01 their sample (co)variances. Two scores on the same samples share the
components' covariance, which is what a paired comparison needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


@dataclass(frozen=True)
class PairedAUC:
    """AUCs of two scores on the same samples, their difference ``a − b`` with standard error, two-sided p-value
    and ``level`` interval (clipped to [−1, 1], the difference's scale)."""

    auc_a: float
    auc_b: float
    difference: float
    stderr: float
    p_value: float
    low: float
    high: float


def _midranks(values: np.ndarray) -> np.ndarray:
    return scipy_stats.rankdata(values, method="average")


def structural_components(scores: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For K scores (K, N) and boolean ``flags`` (N,): AUCs (K,), V10 (K, m) over the m positives and V01 (K, n)
    over the n negatives."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    flags = np.asarray(flags, dtype=bool)
    positives, negatives = scores[:, flags], scores[:, ~flags]
    m, n = positives.shape[1], negatives.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both flagged and other samples")
    v10, v01 = np.empty((len(scores), m)), np.empty((len(scores), n))
    for k in range(len(scores)):
        rank_all = _midranks(np.concatenate([positives[k], negatives[k]]))
        rank_pos, rank_neg = _midranks(positives[k]), _midranks(negatives[k])
        v10[k] = (rank_all[:m] - rank_pos) / n         # negatives below each positive (ties ½)
        v01[k] = 1.0 - (rank_all[m:] - rank_neg) / m   # positives above each negative (ties ½)
    return v10.mean(1), v10, v01


def auc_covariance(scores: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (K,) and their DeLong covariance matrix (K, K)."""
    aucs, v10, v01 = structural_components(scores, flags)
    s10 = np.atleast_2d(np.cov(v10)) if v10.shape[1] > 1 else np.zeros((len(aucs), len(aucs)))
    s01 = np.atleast_2d(np.cov(v01)) if v01.shape[1] > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, s10 / v10.shape[1] + s01 / v01.shape[1]


def paired_auc(a: np.ndarray, b: np.ndarray, flags: np.ndarray, level: float = 0.95) -> PairedAUC:
    """DeLong's paired comparison of the AUCs of scores ``a`` and ``b`` (each (N,)) for ``flags`` (N,)."""
    aucs, cov = auc_covariance(np.stack([np.asarray(a), np.asarray(b)]), flags)
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    stderr = math.sqrt(max(variance, 0.0))
    z = float(scipy_stats.norm.ppf(0.5 + level / 2))
    if stderr == 0.0:
        p_value = 1.0 if difference == 0 else 0.0
    else:
        p_value = float(2 * scipy_stats.norm.sf(abs(difference) / stderr))
    return PairedAUC(float(aucs[0]), float(aucs[1]), difference, stderr, p_value,
                     max(-1.0, difference - z * stderr), min(1.0, difference + z * stderr))
