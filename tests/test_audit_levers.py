"""benchmarks/audit_levers.py: a lever against its reference run on the same pairs (DeLong), the pairs a base model
or reference set showed left out of the out-of-sample comparison, and one lever pooled over seeds."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import audit_levers  # noqa: E402


def _copy(out: Path, name: str, scores: np.ndarray, wrong: np.ndarray, seen: set[int] = frozenset()) -> None:
    """A compact run copy as ``copy_run`` writes it: ranks.csv, metrics.json, status.json."""
    folder = out / name
    folder.mkdir(parents=True)
    with (folder / "ranks.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(audit_levers.KEPT))
        writer.writeheader()
        for i, (score, flag) in enumerate(zip(scores, wrong, strict=True)):
            writer.writerow({"sample_id": i, "rank_joint": score, "low_alignment": score, "clipscore": score,
                             "neighbours": score, "miscaptioned": int(flag), "base_overlap": "",
                             "reference_overlap": "exact" if i in seen else ""})
    (folder / "metrics.json").write_text(json.dumps({"audit_reliability": 0.7}))
    (folder / "status.json").write_text(json.dumps({"seconds": {"r0f0": {"train": 10.0}}}))


def test_a_better_lever_shows_a_positive_paired_difference_pooled_over_seeds(tmp_path):
    rows = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        wrong = rng.random(400) < 0.1
        noise = rng.normal(size=400)
        _copy(tmp_path, f"ref{seed}", wrong * 0.5 + noise, wrong)
        _copy(tmp_path, f"lever{seed}", wrong * 1.5 + noise, wrong, seen=set(range(50)))
        rows.append(audit_levers.compare(tmp_path, f"lever{seed}", f"ref{seed}"))
    assert all(r["all_diff"] > 0 and r["unseen_by_base_n"] == 350 for r in rows)
    pooled = audit_levers.pooled("lever", rows)
    assert pooled["seeds"] == 3 and 0 < pooled["all_low"] < pooled["all_diff"] < pooled["all_high"] <= 1
    assert pooled["unseen_by_base_low"] > 0
    assert 0 <= pooled["auc_reference_low"] <= pooled["auc_reference"] <= pooled["auc_lever"] <= 1
    assert pooled["seeds_low"] < pooled["seeds_mean"] < pooled["seeds_high"] and 0 <= pooled["heterogeneity_p"] <= 1


def test_seeds_that_disagree_widen_the_interval_over_seeds():
    diffs, ses = np.array([0.06, 0.08, -0.03]), np.array([0.02, 0.02, 0.02])
    mean, low, high = audit_levers.seed_interval(diffs)
    assert low < 0 < high and abs(mean - 0.0367) < 1e-3  # the inverse-variance interval would exclude 0
    assert audit_levers.heterogeneity_p(diffs, ses) < 0.01
    assert audit_levers.heterogeneity_p(np.array([0.05, 0.05, 0.05]), ses) == 1.0


def test_runs_with_other_mis_captions_are_refused(tmp_path):
    wrong = np.zeros(50, dtype=bool)
    wrong[:5] = True
    _copy(tmp_path, "a", np.arange(50.0), wrong)
    _copy(tmp_path, "b", np.arange(50.0), np.roll(wrong, 1))
    with pytest.raises(SystemExit, match="did not inject the same mis-captions"):
        audit_levers.compare(tmp_path, "a", "b")


def test_a_run_compares_two_of_its_statistics_and_a_review_copy_is_imported(tmp_path):
    rng = np.random.default_rng(3)
    wrong = rng.random(300) < 0.1
    noise = rng.normal(size=300)
    review = tmp_path / "review_copy"
    review.mkdir()
    with (review / "ranks.csv").open("w", newline="") as f:  # the columns audit_review.py keeps
        writer = csv.DictWriter(f, fieldnames=["sample_id", "rank_joint", "compared", "suspicion", "order",
                                               "familiarity_group", "miscaptioned"])
        writer.writeheader()
        for i in range(300):
            writer.writerow({"sample_id": i, "rank_joint": noise[i], "compared": 50, "suspicion": wrong[i] + noise[i],
                             "order": 2 * wrong[i] + noise[i], "familiarity_group": 0, "miscaptioned": int(wrong[i])})
    (review / "metrics.json").write_text(json.dumps({"audit_statistic": "consensus", "audit_reliability": 0.5}))
    (review / "status.json").write_text(json.dumps({"seconds": {}}))
    audit_levers.import_review_copy("ref", review, tmp_path / "out")
    with (tmp_path / "out" / "ref" / "ranks.csv").open() as f:
        first = next(csv.DictReader(f))
    assert first["consensus"] == str(wrong[0] + noise[0]) and first["neighbours"] == ""
    row = audit_levers.compare(tmp_path / "out", "ref", "ref", "rank_by_familiarity", "consensus")
    assert row["statistic"] == "rank_by_familiarity / consensus" and row["all_diff"] > 0  # 2 · wrong beats 1 · wrong
    assert row["all_auc_lever"] > row["all_auc_reference"] > 0.5
