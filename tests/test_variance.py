"""The split × seed decomposition against hand-computed ANOVA values, and its sweep table on job records."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from clipmem.reporting.sweep_jobs import JobRecord
from clipmem.reporting.sweep_variance import split_groups, variance_markdown, variance_results
from clipmem.reporting.variance import split_variance


def test_balanced_decomposition_matches_the_anova_by_hand():
    # split means 2, 5, 8 (grand mean 5); within each split the seeds lie at -1, 0, +1 around its mean
    groups = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    v = split_variance(groups)
    msb = 3 * (9 + 0 + 9) / 2  # 27 on 2 df
    msw = 6 / 6  # squares 2 per split, 6 in all, on 9 - 3 df
    var_split = (msb - msw) / 3
    assert v.sd_seed == pytest.approx(math.sqrt(msw))
    assert v.sd_split == pytest.approx(math.sqrt(var_split))
    assert v.split_share == pytest.approx(var_split / (var_split + msw))
    # Searle's interval from F = 27 on (2, 6) df; F(2, 6) quantiles 7.259856 (0.975) and 0.025425 (0.025)
    f_low, f_high = 27 / 7.259856, 27 / 0.025425
    assert v.share_low == pytest.approx((f_low - 1) / (f_low + 2), abs=1e-4)
    assert v.share_high == pytest.approx((f_high - 1) / (f_high + 2), abs=1e-4)
    assert v.p_split == pytest.approx(0.001, abs=1e-6)  # P(F(2, 6) > 27)
    assert v.mean.mean == pytest.approx(5.0) and v.mean.n == 3  # the interval is over the three split means


def test_no_split_effect_gives_a_zero_share_and_a_proportion_keeps_its_scale():
    groups = [[0.90, 0.94, 0.92], [0.91, 0.93, 0.92], [0.92, 0.90, 0.94]]  # equal split means
    v = split_variance(groups, kind="proportion")
    assert v.sd_split == 0.0 and v.split_share == 0.0 and v.share_low == 0.0
    assert 0.0 <= v.mean.low <= v.mean.high <= 1.0
    with pytest.raises(ValueError, match="≥ 2 splits with ≥ 2 seeds"):
        split_variance([[0.9, 0.91]])


def test_unbalanced_layout_uses_the_effective_group_size():
    v = split_variance([[1.0, 3.0], [5.0, 6.0, 7.0]])
    n0 = (5 - (4 + 9) / 5) / 1  # 2.4
    means, grand = [2.0, 6.0], 22 / 5
    msb = 2 * (means[0] - grand) ** 2 + 3 * (means[1] - grand) ** 2
    msw = (2 + 2) / 3
    assert v.sd_split == pytest.approx(math.sqrt((msb - msw) / n0))


def _job(job: int, seed: int, split: int, auc: float) -> JobRecord:
    return JobRecord(str(job), Path(f"/sweep/{job}"), {"seed": str(seed), "data.split_seed": str(split)}, "complete",
                     metrics={"miscaption_auc": auc, "clipmem_raw_mean": 0.04 + split / 100})


def test_sweep_over_splits_and_seeds_gets_a_variance_table():
    records = [_job(3 * s + k, k, s, 0.9 + 0.01 * s + 0.001 * k) for s in range(3) for k in range(3)]
    keys = ["seed", "data.split_seed"]
    assert [len(jobs) for jobs in split_groups(records, keys)["all"]] == [3, 3, 3]
    results = {metric: v for _, metric, v in variance_results(records, keys)}
    assert results["miscaption_auc"].splits == 3 and results["miscaption_auc"].runs == 9
    assert results["clipmem_raw_mean"].sd_seed == 0.0  # the raw mean differs only between splits here
    table = variance_markdown(variance_results(records, keys))
    assert "| all" in table and "3 × 3" in table
    assert not split_groups(records, ["seed"])  # no split key swept: no table
    assert not split_groups(records[:4], keys)  # split 1 has a single seed: no decomposition
