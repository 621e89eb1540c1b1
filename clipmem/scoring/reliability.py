"""How reproducible the audit's ranking is: split-half reliability over the repeats, with an interval.

The R repeats of ``design=crossfit`` are independent training seeds on one partition. Split them into two halves,
compute the suspicion with each half's models alone (each half encodes the pairs with its own models: no view
or model is shared between halves), and correlate the two rankings (Spearman ρ); average ρ over up to
``partitions`` distinct splits and correct it to the full set with Spearman–Brown, 2ρ/(1 + ρ). The interval is a
percentile bootstrap over the audited pairs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats as scipy_stats

from clipmem.scoring.uncertainty import spearman_brown


def half_splits(units: list[int], partitions: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Up to ``partitions`` distinct splits of ``units`` into two halves of ⌊n/2⌋ and ⌈n/2⌉ (each split once)."""
    n = len(units)
    firsts = [list(c) for c in itertools.combinations(units, n // 2) if n % 2 or units[0] in c]
    order = np.random.default_rng([int(seed), 0x5E1F]).permutation(len(firsts))[:partitions]
    return [(firsts[i], [u for u in units if u not in firsts[i]]) for i in sorted(order.tolist())]


def _ranks(values: np.ndarray) -> np.ndarray:
    return scipy_stats.rankdata(values, axis=-1)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of (B, N) arrays: (B,)."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def split_half(statistic: Callable[[list[int]], torch.Tensor], units: list[int], partitions: int = 10,
               draws: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """``statistic(units) -> (N,)`` computed on each half of each split; returns ``rho`` (mean Spearman of the
    halves), ``reliability`` (Spearman–Brown) and its bootstrap interval ``low``/``high``; NaN with < 2 units."""
    nan = {"rho": math.nan, "reliability": math.nan, "low": math.nan, "high": math.nan, "partitions": 0}
    if len(units) < 2:
        return nan
    splits = half_splits(units, partitions, seed)
    halves = [(statistic(a).numpy(), statistic(b).numpy()) for a, b in splits]
    rng = np.random.default_rng([int(seed), 0xB007])
    n = len(halves[0][0])
    picks = np.concatenate([np.arange(n)[None], rng.integers(n, size=(draws, n))])  # row 0: the data itself
    rhos = np.zeros(len(picks))
    for a, b in halves:  # Spearman of resampled pairs: Pearson of ranks within each resample
        rhos += _pearson_rows(_ranks(a[picks]), _ranks(b[picks]))
    rhos /= len(halves)
    brown = np.array([spearman_brown(float(r)) for r in rhos])
    tail = (1 - level) / 2
    return {"rho": float(rhos[0]), "reliability": float(brown[0]), "low": float(np.nanquantile(brown[1:], tail)),
            "high": float(np.nanquantile(brown[1:], 1 - tail)), "partitions": len(splits)}
