"""Counting wrong pairs from a curator's review: the estimator on simulated rankings (unbiased where the audit's own
mixture over-counts, intervals that cover), the verdict file's errors, and ``evaluate.py review=`` on a real audit."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from clipmem.audit.config import AuditConfig
from clipmem.audit.mixture import fit_mixture
from clipmem.audit.review import Ranks, Review, estimate_from_review, next_rows, reviewed_probability, top_threshold
from clipmem.audit.review_files import AuditTable, read_verdicts
from clipmem.config.schema import EvaluateConfig
from clipmem.errors import ConfigError, RunDirError
from clipmem.run import run_experiment
from clipmem.run.evaluate import evaluate_entry
from clipmem.run.review import rows_to_review

from .conftest import compose_config
from .data_fixtures import write_pairs
from .test_audit import TINY


def simulated_ranks(rng: np.random.Generator, n: int = 1000, wrong: int = 100, unpredictable: float = 0.25,
                    wrong_shape: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Mid-ranks (n,) and the wrong pairs (n,) bool: wrong pairs Beta(``wrong_shape``) (uniform by default), correct
    ones near the top (Beta(0.4, 6)) but a share ``unpredictable`` of them uniform, like wrong ones (unique pairs the
    models cannot predict: what makes the audit's own count run high)."""
    is_wrong = np.zeros(n, bool)
    is_wrong[:wrong] = True
    u = rng.beta(0.4, 6.0, n)
    blind = rng.random(n) < unpredictable
    u[blind] = rng.random(int(blind.sum()))
    u[is_wrong] = rng.beta(*wrong_shape, wrong)
    return np.clip(u, 1e-6, 1 - 1e-6), is_wrong


def top_rows(u: np.ndarray, share: float) -> np.ndarray:
    reviewed = np.zeros(len(u), bool)
    reviewed[np.argsort(-u, kind="stable")[: round(share * len(u))]] = True
    return reviewed


def test_a_review_of_the_top_counts_what_the_mixture_over_counts():
    rng = np.random.default_rng(0)
    ratios, covered, mixture = [], [], []
    for _ in range(60):
        u, wrong = simulated_ranks(rng)
        estimate = estimate_from_review(Ranks(u), Review(top_rows(u, 0.2), wrong))
        ratios.append(estimate.estimated_wrong / 100)
        covered.append(estimate.low <= 100 <= estimate.high)
        mixture.append(fit_mixture(u).wrong_fraction * len(u) / 100)
    assert abs(np.mean(ratios) - 1) < 0.06 and np.mean(covered) >= 0.88
    assert np.mean(mixture) > 2.0  # the audit's own estimate counts the unpredictable correct pairs as wrong


def test_a_random_review_needs_no_uniform_null_while_a_top_review_does():
    rng = np.random.default_rng(1)
    top, sampled, covered, passed = [], [], [], []
    for _ in range(60):
        u, wrong = simulated_ranks(rng, wrong_shape=(2.0, 1.0))  # wrong captions rank worse than uniform
        top.append(estimate_from_review(Ranks(u), Review(top_rows(u, 0.2), wrong)).estimated_wrong / 100)
        reviewed = np.zeros(len(u), bool)
        reviewed[rng.choice(len(u), 200, replace=False)] = True
        estimate = estimate_from_review(Ranks(u), Review(reviewed, wrong))
        sampled.append(estimate.estimated_wrong / 100)
        covered.append(estimate.low <= 100 <= estimate.high)
        passed.append(estimate.random_sample)
    assert abs(np.mean(sampled) - 1) < 0.06 and np.mean(covered) >= 0.88
    assert np.mean(passed) >= 0.9  # a random sample is seldom taken for a gap in the review
    assert np.mean(top) > 1.3  # the top alone extrapolates with the uniform null, which these wrong ranks break


def test_a_full_review_counts_exactly_and_an_empty_top_still_bounds_the_count():
    rng = np.random.default_rng(2)
    u, wrong = simulated_ranks(rng, n=300, wrong=30)
    full = estimate_from_review(Ranks(u), Review(np.ones(300, bool), wrong))
    assert full.estimated_wrong == full.low == full.high == 30 and full.remaining == 0
    clean_top = np.argsort(-u)[:5]
    none_found = estimate_from_review(Ranks(u), Review(np.isin(np.arange(300), clean_top), np.zeros(300, bool)))
    assert none_found.estimated_wrong == 0 and none_found.low == 0 < none_found.high <= 295
    with pytest.raises(ValueError, match="no reviewed row"):
        estimate_from_review(Ranks(u), Review(np.zeros(300, bool), wrong))


def test_the_top_ends_at_the_first_unreviewed_row_and_gaps_are_not_a_random_sample():
    u = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1] * 3)
    assert top_threshold(u, u >= 0.8) == 0.8
    assert top_threshold(u, np.isin(np.arange(30), [0, 10, 20, 1])) == 0.9  # one row at 0.8 reviewed, its ties not
    assert top_threshold(u, np.isin(np.arange(30), [0, 1])) == np.inf  # a row at 0.9 left unreviewed: no top
    assert top_threshold(u, u < 0.9) == np.inf
    rng = np.random.default_rng(3)
    u, wrong = simulated_ranks(rng)
    order = np.argsort(-u, kind="stable")
    reviewed = np.zeros(len(u), bool)
    reviewed[order[:100]] = True
    reviewed[order[150:400]] = True  # a gap, then the next 250: not a random sample of the rows below the top
    estimate = estimate_from_review(Ranks(u), Review(reviewed, wrong))
    assert estimate.sampled == 250 and estimate.between == 300 and not estimate.random_sample


def test_rows_picked_below_the_rank_top_by_another_order_are_found_not_sampled():
    """A consensus audit is reviewed down another order: its rows below the rank order's top are picked by
    wrongness-related statistics, so they only floor the count, and to_review lists what closes the top."""
    rng = np.random.default_rng(4)
    u, wrong = simulated_ranks(rng)
    order = np.argsort(-u, kind="stable")
    reviewed = np.zeros(len(u), bool)
    reviewed[order[:60]] = True
    reviewed[order[61:100]] = True  # a gap at row 60, and extra wrong rows found far below
    extra = np.flatnonzero(wrong & ~reviewed)[:5]
    reviewed[extra] = True
    review = Review(reviewed, wrong)
    closed = estimate_from_review(Ranks(u), Review(np.isin(np.arange(len(u)), order[:60]), wrong))
    picked = estimate_from_review(Ranks(u, sampled_below_top=False), review)
    assert picked.sampled == 0 and picked.top_rows == 60 and picked.reviewed == int(reviewed.sum())
    assert picked.found == int((reviewed & wrong).sum()) >= closed.found + 5
    assert picked.estimated_wrong == pytest.approx(max(picked.found, closed.estimated_wrong))
    assert estimate_from_review(Ranks(u), review).sampled > 0  # read as a sample when the order is audit.csv's
    missing = rows_to_review(Ranks(u, sampled_below_top=False), review, 100)
    assert set(missing) == set(order[:100]) - set(np.flatnonzero(reviewed)) and list(missing) == [order[60]]
    with pytest.raises(ValueError, match="first row of the rank order"):
        estimate_from_review(Ranks(u, sampled_below_top=False), Review(~np.isin(np.arange(len(u)), order[:1]), wrong))


def test_the_next_rows_hold_the_predicted_share_of_wrong_pairs_and_verdicts_are_probabilities():
    rng = np.random.default_rng(4)
    predicted, measured = [], []
    for _ in range(40):
        u, wrong = simulated_ranks(rng)
        review = Review(top_rows(u, 0.1), wrong)
        estimate = estimate_from_review(Ranks(u), review)
        chosen, expected = next_rows(Ranks(u), review, estimate, 100)
        assert chosen.size == 100 and not review.reviewed[chosen].any()
        predicted.append(expected / 100)
        measured.append(wrong[chosen].mean())
    assert abs(np.mean(predicted) - np.mean(measured)) < 0.03
    probability = reviewed_probability(Ranks(u), review, estimate.wrong_fraction)
    assert np.array_equal(probability[review.reviewed], wrong[review.reviewed].astype(float))
    assert ((probability >= 0) & (probability <= 1)).all()


def _table(tmp_path, n: int = 4) -> AuditTable:
    rows = [{"sample_id": str(i), "key": f"k{i}", "rank_joint": "0.5", "compared": "10"} for i in range(n)]
    return AuditTable(tmp_path / "audit.csv", list(rows[0]), rows)


def test_a_consensus_audit_is_counted_in_its_rank_order_and_a_plain_score_is_refused(tmp_path):
    rows = [{"sample_id": str(i), "key": f"k{i}", "rank_joint": str((i + 1) / 10), "compared": "5",
             "suspicion": str(i % 3), "rank_by_familiarity": str(i), "familiarity_group": "0"} for i in range(5)]
    table = AuditTable(tmp_path / "audit.csv", list(rows[0]), rows)
    ranks = table.ranks(AuditConfig(statistic="consensus"))
    assert np.array_equal(ranks.ordering, np.arange(5.0)) and ranks.groups is not None
    assert np.array_equal(table.ranks(AuditConfig(statistic="rank_joint")).ordering, np.array([0, 1, 2, 0, 1.0]))
    with pytest.raises(ConfigError, match="low_alignment, which is not a rank"):
        table.ranks(AuditConfig(statistic="low_alignment"))


def test_verdicts_are_read_by_key_or_sample_id_and_every_mistake_names_the_line(tmp_path):
    table, path = _table(tmp_path), tmp_path / "review.csv"
    path.write_text("key;caption;verdict\nk2;a dog;Wrong\nk0;a cat; correct \nk1;a cow;\n")
    review = read_verdicts(path, table)
    assert review.reviewed.tolist() == [True, False, True, False] and review.wrong.tolist()[2] is True
    path.write_text("sample_id,verdict\n3,wrong\n3,wrong\n")
    assert read_verdicts(path, table).found.tolist() == [False, False, False, True]
    for text, message in [("key,note\nk1,x\n", "no 'verdict' column"),
                          ("verdict\nwrong\n", "needs a sample_id or key column"),
                          ("key,verdict\nk1,correct\nk2,maybe\n", r"line 3: verdict 'maybe' is not one of"),
                          ("key,verdict\nk9,wrong\n", r"1 reviewed key\(s\) are not rows of"),
                          ("key,verdict\nk1,wrong\nk1,correct\n", "line 3: key k1 was given both verdicts"),
                          ("key,verdict\nk1,\n", "no row with a verdict")]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_verdicts(path, table)
    with pytest.raises(ConfigError, match="does not exist"):
        read_verdicts(tmp_path / "missing.csv", table)
    path.write_text('key,caption,verdict\nk1,"a cat\non two lines",wrong\nk2,a dog,correct\n')
    assert read_verdicts(path, table).found.tolist() == [False, True, False, False]  # a quoted newline stays one row
    path.write_bytes(b"key,verdict\nk1,wr\xffong\n")
    with pytest.raises(ConfigError, match="not UTF-8 text: line 2"):
        read_verdicts(path, table)


def _write_review(path, rows: list[dict], count: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "caption", "verdict"])
        for i, row in enumerate(rows):
            verdict = ("wrong" if row["miscaptioned"] == "1" else "correct") if i < count else ""
            writer.writerow([row["sample_id"], row["caption"], verdict])


def test_evaluate_review_counts_an_audits_wrong_pairs_without_touching_the_run(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 121)
    run_dir = tmp_path / "run"
    metrics = run_experiment(compose_config([*TINY, f"data.source.path={paths['csv']}", f"run_dir={run_dir}",
                                             "audit.statistic=rank_by_familiarity"]))  # audit.csv in its rank order
    injected = metrics["audit_injected_wrong"]
    own = (run_dir / "audit.csv").read_bytes()
    with (run_dir / "audit.csv").open() as f:
        rows = list(csv.DictReader(f))
    verdicts = tmp_path / "verdicts.csv"
    _write_review(verdicts, rows, len(rows))  # every row reviewed: the count is what was found
    full = evaluate_entry(EvaluateConfig(run_dir=str(run_dir), review=str(verdicts)))
    assert full["audit_review_estimated_wrong"] == full["audit_review_estimated_wrong_low"] == injected
    suspicion = [float(r["suspicion"]) for r in rows]
    top = sum(s >= suspicion[59] for s in suspicion)  # the top half of audit.csv, to the end of the ties at row 60
    _write_review(verdicts, rows, top)
    half = evaluate_entry(EvaluateConfig(run_dir=str(run_dir), review=str(verdicts)))
    assert half["audit_review_rows"] == top and half["audit_review_sampled"] == 0
    assert half["audit_review_estimated_wrong_low"] <= injected <= half["audit_review_estimated_wrong_high"]
    assert (run_dir / "audit.csv").read_bytes() == own  # the run's own files are never rewritten
    folders = sorted((run_dir / "evaluations").iterdir())
    assert len(folders) == 2 and json.loads((folders[1] / "status.json").read_text())["state"] == "complete"
    with (folders[1] / "audit.csv").open() as f:
        reviewed = list(csv.DictReader(f))
    assert [r["sample_id"] for r in reviewed] == [r["sample_id"] for r in rows]  # same rows, same order
    assert all(r["verdict"] == ("" if i >= top else "wrong" if r["miscaptioned"] == "1" else "correct")
               for i, r in enumerate(reviewed))
    assert all(r["flagged"] == "1" for r in reviewed if r["verdict"] == "wrong")
    assert all(r["flagged"] == "0" and float(r["p_miscaptioned"]) == 0 for r in reviewed if r["verdict"] == "correct")
    flagged = {int(r["sample_id"]) for r in reviewed if r["flagged"] == "1"}
    with paths["csv"].open() as f:
        source = list(csv.reader(f))
    with (folders[1] / "clean.csv").open() as f:
        assert list(csv.reader(f))[1:] == [row for i, row in enumerate(source[1:]) if i not in flagged]
    with pytest.raises(ConfigError, match="give it with run_dir=<audit run> alone"):
        evaluate_entry(EvaluateConfig(sweep_dir=str(tmp_path), review=str(verdicts)))
    with pytest.raises(RunDirError, match="has no audit.csv"):
        evaluate_entry(EvaluateConfig(run_dir=str(tmp_path), review=str(verdicts)))


def test_a_consensus_audit_is_counted_along_its_rank_order_and_lists_the_rows_a_count_needs(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 121)
    run_dir = tmp_path / "run"
    run_experiment(compose_config([*TINY, f"data.source.path={paths['csv']}", f"run_dir={run_dir}"]))
    with (run_dir / "audit.csv").open() as f:
        rows = list(csv.DictReader(f))  # in consensus order, the default
    ids = [r["sample_id"] for r in rows]
    verdicts = tmp_path / "verdicts.csv"
    by_rank = sorted(range(len(rows)), key=lambda i: -float(rows[i]["rank_by_familiarity"]))
    last = rows[by_rank[-1]]  # only the rank order's last row reviewed: refused before writing anything
    _write_review(verdicts, [last] + [r for r in rows if r is not last], 1)
    with pytest.raises(ConfigError, match="first row of the rank order was not reviewed") as refused:
        evaluate_entry(EvaluateConfig(run_dir=str(run_dir), review=str(verdicts)))
    assert not (run_dir / "evaluations").exists()
    named = [rows[i]["key"] for i in by_rank[:30]]  # audit.csv's top is not reviewed: the rank order's first rows
    assert f"review its first rows (audit.csv's key column): {named}; add their verdicts" in str(refused.value)
    reviewed = sorted(set(range(30)) | {by_rank[0]})
    order_rows = [rows[i] for i in reviewed] + [r for i, r in enumerate(rows) if i not in reviewed]
    _write_review(verdicts, order_rows, len(reviewed))
    partial = evaluate_entry(EvaluateConfig(run_dir=str(run_dir), review=str(verdicts)))
    folder = sorted((run_dir / "evaluations").iterdir())[-1]
    with (folder / "to_review.csv").open() as f:
        listed = [r["sample_id"] for r in csv.DictReader(f)]
    prefix = next(i for i in range(len(rows)) if i not in reviewed)  # audit.csv's top reviewed without a gap
    missing = [rows[i]["sample_id"] for i in by_rank[:prefix] if i not in reviewed]
    assert listed == missing and partial["audit_review_to_review"] == len(missing)
    assert partial["audit_review_sampled"] == 0 and partial["audit_review_rows"] == len(reviewed)
    assert partial["audit_review_random_sample"] is None  # no row below the top: nothing to check for randomness
    closed, result = list(reviewed), partial
    for _ in range(5):  # review the listed rows too; audit.csv's reviewed top may grow with them, and the list with it
        folder = sorted((run_dir / "evaluations").iterdir())[-1]
        with (folder / "to_review.csv").open() as f:
            closed += [ids.index(r["sample_id"]) for r in csv.DictReader(f)]
        order_rows = [rows[i] for i in closed] + [r for i, r in enumerate(rows) if i not in closed]
        _write_review(verdicts, order_rows, len(closed))
        result = evaluate_entry(EvaluateConfig(run_dir=str(run_dir), review=str(verdicts)))
        if result["audit_review_to_review"] == 0:
            break
    assert result["audit_review_to_review"] == 0 and result["audit_review_top_rows"] >= prefix
    assert result["audit_review_wrong"] >= partial["audit_review_wrong"]
