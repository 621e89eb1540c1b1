"""DeLong's paired AUC test against a hand-computed example, and its variance against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipmem.evaluation.delong import auc_covariance, paired_auc, structural_components


def test_paired_auc_by_hand():
    # positives 0.9, 0.4 and negatives 0.5, 0.1, 0.2 under a: AUC 5/6, V10 = [1, 2/3], V01 = [1/2, 1, 1];
    # b ranks both positives on top: AUC 1 with constant components. Var(a) = (1/18)/2 + (1/12)/3 = 1/18.
    flags = np.array([1, 1, 0, 0, 0], dtype=bool)
    a = np.array([0.9, 0.4, 0.5, 0.1, 0.2])
    b = np.array([0.8, 0.7, 0.3, 0.6, 0.2])
    aucs, v10, v01 = structural_components(np.stack([a, b]), flags)
    assert aucs.tolist() == pytest.approx([5 / 6, 1.0])
    assert v10[0].tolist() == pytest.approx([1.0, 2 / 3]) and v01[0].tolist() == pytest.approx([0.5, 1.0, 1.0])
    result = paired_auc(a, b, flags)
    assert result.difference == pytest.approx(-1 / 6)
    assert result.stderr == pytest.approx(math.sqrt(1 / 18))
    assert result.p_value == pytest.approx(2 * 0.5 * math.erfc((1 / 6) / math.sqrt(1 / 18) / math.sqrt(2)))
    assert result.low == pytest.approx(-1 / 6 - 1.959964 * math.sqrt(1 / 18), abs=1e-5)


def test_ties_count_half_and_a_score_against_itself_has_no_difference():
    flags = np.array([1, 0, 1, 0], dtype=bool)
    a = np.array([0.5, 0.5, 0.7, 0.1])
    aucs, _ = auc_covariance(a[None], flags)
    assert aucs[0] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    same = paired_auc(a, a, flags)
    assert same.difference == 0 and same.stderr == 0 and same.p_value == 1.0


def test_delong_variance_matches_the_spread_over_simulated_data_sets():
    rng = np.random.default_rng(1)
    diffs, variances = [], []
    for _ in range(600):
        flags = np.r_[np.ones(40, bool), np.zeros(160, bool)]
        shared = rng.normal(size=200) + 0.8 * flags
        a = shared + rng.normal(scale=0.7, size=200)
        b = shared + rng.normal(scale=1.2, size=200)
        result = paired_auc(a, b, flags)
        diffs.append(result.difference)
        variances.append(result.stderr ** 2)
    assert 0.9 < np.mean(variances) / np.var(diffs) < 1.2  # unbiased up to Monte Carlo error (600 sets)
