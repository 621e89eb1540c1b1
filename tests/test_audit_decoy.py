"""benchmarks/audit_decoy.py: counting against known-wrong pairs over-counts by 1 / precision above the threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import audit_decoy  # noqa: E402


def test_the_threshold_takes_the_top_share_and_its_ties():
    score = np.array([5.0, 4.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    assert audit_decoy.over_threshold(score, 0.1).tolist() == [True] + [False] * 9
    assert audit_decoy.over_threshold(score, 0.2).sum() == 3  # the row at 20 % ties with the third


def test_oracle_decoys_over_count_by_one_over_the_precision_above_the_threshold():
    score = np.arange(100.0)[::-1]  # row 0 the most suspicious
    wrong = np.zeros(100, dtype=bool)
    wrong[[0, 1, 2, 5, 50, 60, 70, 80, 90, 99]] = True  # 3 of the top 5 wrong, 10 wrong in all
    assert audit_decoy.oracle_ratio(score, wrong, 0.05) == 5 / 3
    assert audit_decoy.oracle_ratio(score, wrong, 0.01) == 1.0


def test_spike_ins_count_exactly_when_the_top_holds_only_wrong_pairs():
    rng = np.random.default_rng(0)
    wrong = np.zeros(1000, dtype=bool)
    wrong[:100] = True
    score = np.where(wrong, rng.uniform(1, 2, size=1000), rng.uniform(0, 1, size=1000))
    ratios = audit_decoy.spike_ratios(score, wrong, 0.02, rng)
    assert len(ratios) == audit_decoy.SPIKE_DRAWS
    assert 0.8 < np.median(ratios) < 1.25  # 20 rows above t, all wrong: unbiased, noisy from the 50 spikes
    assert np.mean(np.abs(ratios - 1) <= audit_decoy.TOLERANCE) < 1  # and the noise is there


def test_correct_pairs_above_the_threshold_inflate_the_spike_in_count():
    rng = np.random.default_rng(1)
    wrong = np.zeros(1000, dtype=bool)
    wrong[:100] = True
    score = rng.uniform(size=1000)  # wrong pairs rank like correct ones: precision 0.1 everywhere
    assert np.median(audit_decoy.spike_ratios(score, wrong, 0.1, rng)) > 5


def test_the_uniform_null_counts_from_the_top_and_takes_unpredictable_correct_pairs_for_wrong_ones():
    rng = np.random.default_rng(2)
    wrong = np.zeros(10000, dtype=bool)
    wrong[:1000] = True
    u = np.where(wrong, rng.uniform(size=10000), rng.uniform(0, 0.5, size=10000))
    assert abs(audit_decoy.uniform_null_ratio(u, u, None, wrong, 0.02) - 1) < 0.15  # 200 rows above 0.8, all wrong
    u[1000:1500] = rng.uniform(0.5, 1.0, size=500)  # 500 correct pairs the models cannot predict, on (0.5, 1)
    # as dense there as the 1,000 uniform wrong pairs: they count as wrong, and the count doubles
    assert 1.8 < audit_decoy.uniform_null_ratio(u, u, None, wrong, 0.02) < 2.3
