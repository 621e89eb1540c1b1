"""benchmarks/audit_count.py: the counts from the ranks alone against the injected count, and why they miss."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import audit_count  # noqa: E402


def test_why_measures_the_correct_pairs_that_rank_like_wrong_ones():
    rng = np.random.default_rng(0)
    wrong = np.zeros(2000, dtype=bool)
    wrong[:200] = True
    u = np.where(wrong, rng.uniform(size=2000), rng.uniform(0, 0.5, size=2000))
    u[200:500] = rng.uniform(0.5, 1.0, size=300)  # 300 of 1,800 correct pairs the models cannot predict
    low_fit = torch.from_numpy(np.where(wrong, 1.0, 0.0) + rng.normal(size=2000))
    causes = audit_count.why(u, low_fit, torch.from_numpy(wrong))
    assert causes["correct_in_lower_half"] == round(300 / 1800, 3)
    assert causes["wrong_share_of_lower_half"] == round(float(wrong[u > 0.5].mean()), 3)
    assert 0.65 < causes["low_fit_auc_in_lower_half"] < 0.85  # a shift of one standard deviation: AUC ≈ 0.76


def test_the_table_counts_the_runs_within_a_quarter_of_the_injected_count():
    rows = [{"data": "tux", "seed": seed, "estimator": "e", "ratio": ratio, "correct_in_lower_half": 0.2,
             "wrong_share_of_lower_half": 0.3, "low_fit_auc_in_lower_half": 0.7}
            for seed, ratio in ((0, 0.76), (1, 1.25), (2, 1.26), (3, 0.74))]
    text = audit_count.markdown(rows)
    assert "| 0.76, 1.25, 1.26, 0.74 " in text and "2 of 4" in text and "0.74–1.26" in text


def test_the_most_familiar_share_is_the_top_of_the_values():
    chosen = audit_count.most_familiar(np.arange(100.0), 0.2)
    assert chosen.sum() == 20 and chosen[80:].all()
