"""The audit on a user's CSV: every row scored out of fold, probabilities and flags consistent, clean.csv = input
minus flagged, the curator's columns, too-small sets refused."""

from __future__ import annotations

import csv
import json

import pytest

from clipmem.audit.writer import short_path, write_clean
from clipmem.data.sources.csv_source import CsvSource
from clipmem.errors import ConfigError
from clipmem.reporting.summary import _count_lines, _precision_text, format_summary
from clipmem.run import run_experiment

from .conftest import compose_config, load_settings_for
from .data_fixtures import write_pairs

# the audit's machinery on small models: the image tower from scratch (32 px, fast) and the consensus statistic
# (the default model=lite0_minilm and its statistic: tests/test_image_encoder.py)
TINY = ["experiment=audit", "model=nano_minilm", "audit.statistic=consensus",
        "design.folds=3", "design.repeats=2", "trainer.max_epochs=2", "scoring.num_views=2",
        "logger=none", "checkpoints=false", "data.source.resolution=32", "data.batch_size=16",
        "data.miscaption.fraction=0.1", "audit.bootstrap_draws=20", "audit.min_steps=0"]


def test_an_audit_needs_the_crossfit_design_and_clean_needs_a_csv():
    with pytest.raises(ConfigError, match="audit.enabled needs design=crossfit"):
        load_settings_for(["audit.enabled=true", "design=inout"])
    with pytest.raises(ConfigError, match="audit.write_clean needs a CSV source"):
        load_settings_for(["audit.enabled=true", "design=crossfit", "data.splits.extra=0", "audit.write_clean=true"])
    with pytest.raises(ConfigError, match="data.splits.extra must be ≥ 1"):
        load_settings_for(["data.splits.extra=0"])  # the pair design compares with held-out pairs
    with pytest.raises(ConfigError, match="audit.min_probability must be in"):
        load_settings_for(["audit.min_probability=nan"])
    with pytest.raises(ConfigError, match=r"audit.count_familiar_quantile must be in \[0, 1\), got 1.0"):
        load_settings_for(["audit.count_familiar_quantile=1.0"])
    with pytest.raises(ConfigError, match=r"audit.count_rank_threshold must be in \[0, 1\), got -0.1"):
        load_settings_for(["audit.count_rank_threshold=-0.1"])


def test_audit_scores_every_row_and_clean_csv_drops_exactly_the_flagged(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 121)
    run_dir = tmp_path / "run"
    metrics = run_experiment(compose_config([*TINY, f"data.source.path={paths['csv']}", "audit.write_clean=true",
                                             "audit.min_probability=0.2", "audit.count_rank_threshold=0.4",
                                             f"run_dir={run_dir}"]))
    with (run_dir / "audit.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["sample_id"]) for r in rows) == list(range(121))  # every input row, once, none held out
    assert all(r["p_miscaptioned"] and r["rank_joint"] and r["memorization"] for r in rows)
    assert [r["path"] for r in rows[:1]] == [f"images/{rows[0]['sample_id']}.png"]  # the CSV's own image column
    suspicion = [float(r["suspicion"]) for r in rows]
    assert suspicion == sorted(suspicion, reverse=True)  # most suspicious first
    assert all((float(r["p_miscaptioned"]) >= 0.2) == (r["flagged"] == "1") for r in rows)
    assert suspicion == [float(r["consensus"]) for r in rows]  # the default suspicion
    by_rank = sorted(rows, key=lambda r: -float(r["rank_by_familiarity"]))
    probability = [float(r["p_miscaptioned"]) for r in by_rank]
    assert probability == sorted(probability, reverse=True)  # p = π / f_g(u) (at most 1): the top of the rank order
    assert {r["familiarity_group"] for r in rows} == {"0"}  # 121 pairs: one group of the default 250
    blocks = {}
    for r in rows:  # each pair is ranked among the pairs of its block (blocks of ~20 unseen by the same models)
        blocks.setdefault(r["block"], []).append(int(r["compared"]))
    assert all(len(sizes) == sizes[0] >= 20 and len(set(sizes)) == 1 for sizes in blocks.values())
    flagged = {int(r["sample_id"]) for r in rows if r["flagged"] == "1"}
    assert metrics["audit_num_flagged"] == len(flagged)
    assert metrics["audit_rows"] == 121 and metrics["audit_injected_wrong"] == 12
    assert metrics["audit_estimated_wrong_low"] <= metrics["audit_estimated_wrong_high"] <= 121
    assert metrics["audit_estimated_wrong"] == pytest.approx(metrics["audit_estimated_wrong_fraction"] * 121)
    assert 0 <= metrics["audit_expected_recall"] <= 1 and metrics["audit_wrong_fraction_prior"] is None
    low, high = metrics["audit_expected_precision_low"], metrics["audit_expected_precision_high"]
    assert metrics["audit_num_flagged"] > 0 and low <= metrics["audit_expected_precision"] <= high <= 1
    ratio = metrics["audit_estimated_wrong_low"] / metrics["audit_estimated_wrong"]  # the count's interval, carried
    assert low == pytest.approx(metrics["audit_expected_precision"] * ratio)
    assert metrics["audit_count_method"] == "familiar_pairs" and 0 <= metrics["audit_count_observed"] <= 121
    assert (metrics["audit_count_familiar_quantile"], metrics["audit_count_rank_threshold"]) == (0.6, 0.4)
    assert metrics["audit_estimated_wrong"] == pytest.approx(min(121, metrics["audit_count_observed"]
                                                                  / metrics["audit_count_null_share"]))
    assert -1 <= metrics["audit_reliability"] <= 1 and metrics["audit_statistic"] == "consensus"
    with paths["csv"].open() as f:
        source = list(csv.reader(f))
    with (run_dir / "clean.csv").open() as f:
        clean = list(csv.reader(f))
    assert clean[0] == source[0] and clean[1:] == [row for i, row in enumerate(source[1:]) if i not in flagged]
    assert (run_dir / "report" / "most_suspicious.png").is_file()
    summary = format_summary(metrics, run_dir)
    assert f"at most {metrics['audit_wrong_upper']:.0f}" in summary
    assert f"expected precision {metrics['audit_expected_precision']:.2f} [{low:.2f}, {high:.2f}]" in summary
    above = metrics["audit_estimated_wrong"] > metrics["audit_wrong_upper"]
    assert metrics["audit_estimate_above_upper"] == above and not (above and metrics["audit_estimate_stable"])
    warned = "ran to 0" if metrics["audit_estimate_at_bound"] else "exceeds Storey's bound" if above else \
        "estimated count is unstable"
    assert (warned in summary) == (not metrics["audit_estimate_stable"])
    assert metrics["audit_rank_order"] == "rank_by_familiarity" and "to_review.csv" in summary  # consensus: not ranks
    ranked = {**metrics, "audit_statistic": "rank_joint", "audit_rank_order": "rank_joint"}
    assert "to_review.csv" not in format_summary(ranked, run_dir)  # a rank order is counted from audit.csv alone
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"


def test_a_set_too_small_for_the_batch_is_refused_with_the_minimum(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 60)
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match="an audit needs at least 96 pairs at this batch size"):
        run_experiment(compose_config([*TINY, f"data.source.path={paths['csv']}", "data.batch_size=64",
                                       f"run_dir={run_dir}"]))
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"


def test_the_flags_precision_shows_an_interval_only_where_the_count_has_one():
    counted = {"audit_expected_precision": 0.8, "audit_expected_precision_low": 0.55,
               "audit_expected_precision_high": 1.0, "audit_count_method": "familiar_pairs"}
    assert _precision_text(counted).startswith("expected precision 0.80 [0.55, 1.00] (the count's interval")
    mixture = _precision_text({**counted, "audit_count_method": "mixture"})  # a bootstrap interval, never measured
    assert "the mixture's interval" in mixture and "every audit measured" not in mixture
    prior = {**counted, "audit_expected_precision_low": float("nan"), "audit_expected_precision_high": float("nan")}
    assert _precision_text(prior) == "expected precision 0.80"
    assert _precision_text({"audit_expected_precision": 0.8}) == "expected precision 0.80"  # an older metrics.json


def test_a_prior_replaces_the_estimate_in_the_summary():
    metrics = {"audit_wrong_fraction_prior": 0.05, "audit_estimated_wrong": 50.2, "audit_wrong_upper": 310.0}
    (line,) = _count_lines(metrics, 1000)
    assert "wrong pairs (your prior) 50" in line and "audit.wrong_fraction=0.05" in line and "at most 310" in line
    unstable = {**metrics, "audit_wrong_fraction_prior": None, "audit_estimated_wrong_low": 10.0,
                "audit_estimated_wrong_high": 400.0, "audit_estimate_stable": False}
    lines = _count_lines(unstable, 1000)
    assert "[10.0, 400.0]" in lines[0] and "unstable" in lines[1] and "audit.wrong_fraction" in lines[1]
    counted = {**unstable, "audit_count_method": "familiar_pairs", "audit_count_observed": 7}
    lines = _count_lines(counted, 1000)
    assert "counted among the pairs with familiar images and captions (7 rows there)" in lines[0]
    assert "mixture" not in lines[0]
    older = _count_lines({**counted, "audit_count_method": "familiar_captions"}, 1000)  # a run before the pair region
    assert "counted among the pairs with familiar captions (7 rows there)" in older[0] and older[1:] == lines[1:]
    assert "only 7 rows lie where the count is made" in lines[1]
    above = {**counted, "audit_estimated_wrong": 98.9, "audit_wrong_upper": 94.0, "audit_estimate_above_upper": True}
    lines = _count_lines(above, 121)
    assert "at most 94" in lines[0] and "exceeds Storey's bound" in lines[1] and "audit.min_steps=0" in lines[1]
    at_bound = {**unstable, "audit_estimated_wrong": 0.001, "audit_estimated_wrong_low": 0.001,
                "audit_estimated_wrong_high": 0.001, "audit_estimate_at_bound": True}
    lines = _count_lines(at_bound, 1000)
    assert len(lines) == 2 and "ran to 0" in lines[1] and "not evidence that none are" in lines[1]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_clean_csv_keeps_the_source_bytes_of_every_kept_row(tmp_path, line_end):
    lines = ["filepath;title", "a.png;A cat.", "b.png;A dog", "c.png;A ship."]
    source_path = tmp_path / "pairs.csv"
    source_path.write_bytes(line_end.join(lines).encode() + line_end.encode())
    kept = write_clean(CsvSource(path=str(source_path), sep=";"), {1}, {0, 1, 2}, tmp_path / "clean.csv")
    expected = line_end.join([lines[0], lines[1], lines[3]]) + line_end
    assert kept == 2 and (tmp_path / "clean.csv").read_bytes() == expected.encode()


def test_gallery_panels_show_the_end_of_a_long_path():
    assert short_path("images/a.png") == "images/a.png"
    assert short_path("/work/main/data/tuxpaint/images/military/fireman240a.png") == "…/images/military/fireman240a.png"
    assert short_path("/d/" + "x" * 50 + ".png") == "…/" + "x" * 50 + ".png"  # the file name, however long


def test_a_small_set_trains_for_more_epochs_until_each_model_takes_min_steps(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 121)
    run_dir = tmp_path / "run"
    metrics = run_experiment(compose_config([*TINY, f"data.source.path={paths['csv']}", "audit.min_steps=14",
                                             f"run_dir={run_dir}"]))
    steps = [json.loads(meta.read_text())["global_step"] for meta in run_dir.glob("models/*/clipmem_meta.json")]
    epochs = metrics["max_epochs"]
    assert metrics["max_epochs_configured"] == 2 and epochs > 2 and len(steps) == 6
    assert min(steps) >= 14 > min(steps) * (epochs - 1) / epochs  # the fewest epochs that give every model 14 steps
    assert f"epochs                   {epochs}, raised from 2" in format_summary(metrics, run_dir)
    meta = json.loads(next(run_dir.glob("models/*/clipmem_meta.json")).read_text())
    assert meta["training_config"]["trainer"]["max_epochs"] == epochs  # the record says what the model trained for


def test_epochs_for_steps_counts_whole_batches_of_the_smallest_model():
    from types import SimpleNamespace

    from clipmem.plan.checks import epochs_for_steps

    plan = SimpleNamespace(specs=[SimpleNamespace(train_ids=range(200)), SimpleNamespace(train_ids=range(190))])
    assert epochs_for_steps(plan, 64, 16, 160) == 80  # 190 rows: 2 whole batches of 64 per epoch
    assert epochs_for_steps(plan, 64, 100, 160) == 100  # enough steps already: never lowered
    assert epochs_for_steps(plan, 64, 16, 0) == 16  # 0: keep the configured epochs
    assert epochs_for_steps(plan, 32, 16, 161) == 33  # 5 batches of 32: 33 epochs give 165 ≥ 161, 32 give 160


def test_epochs_for_steps_counts_the_steps_of_each_data_parallel_process_and_accumulation():
    from types import SimpleNamespace

    from clipmem.plan.checks import epochs_for_steps

    plan = SimpleNamespace(specs=[SimpleNamespace(train_ids=range(640))])
    assert epochs_for_steps(plan, 32, 1, 160) == 8  # one process: 20 steps per epoch
    assert epochs_for_steps(plan, 32, 1, 160, processes=2) == 16  # 320 pairs per process: 10 steps per epoch
    assert epochs_for_steps(plan, 32, 1, 160, processes=2, accumulate=2) == 32  # a step every 2 batches: 5


def test_batch_processes_are_the_devices_of_every_node():
    from dataclasses import replace

    from clipmem.hardware import HardwareSettings

    cpu = HardwareSettings(accelerator="cpu", devices=1, num_nodes=1, strategy="auto", precision="32-true",
                           matmul_precision="highest", deterministic=True, gpu_per_job=False,
                           slurm_auto_requeue=False)
    assert cpu.batch_processes() == 1
    assert replace(cpu, devices=4, num_nodes=2).batch_processes() == 8
    assert replace(cpu, devices=[0, 3]).batch_processes() == 2
    assert replace(cpu, devices="0,1,2").batch_processes() == 3
    assert replace(cpu, devices="auto", num_nodes=3).batch_processes() == 3  # one CPU process per node


def test_a_re_score_of_an_audit_run_says_the_audit_is_not_redone_and_how_to_finish_a_stopped_one(tmp_path):
    from clipmem.run.evaluate import audit_note

    assert "has no audit.csv (yet): a run that stopped before its audit finishes it" in audit_note(tmp_path)
    assert f"run_dir={tmp_path} resume=true" in audit_note(tmp_path)
    (tmp_path / "audit.csv").write_text("sample_id\n")
    assert audit_note(tmp_path).endswith(f"the run's own {tmp_path / 'audit.csv'} stands")


def test_a_count_above_storey_s_bound_is_unstable_and_one_below_it_is_not():
    import torch

    from clipmem.audit.count import CountRegion, FamiliarCount
    from clipmem.audit.estimate import AuditResult
    from clipmem.audit.mixture import MixtureFit

    u = torch.cat([torch.full((90,), 0.1), torch.full((10,), 0.9)]).double()  # Storey: 10 / (100 / 2) → 20 pairs

    def result(estimate: float) -> AuditResult:
        count = FamiliarCount(torch.zeros(100, dtype=torch.bool), 0.25, estimate, estimate * 0.9, estimate * 1.1,
                              CountRegion())
        values = {"rank_by_familiarity": u, "compared": torch.full((100,), 20.0)}
        return AuditResult(statistic="rank_by_familiarity", statistics=values, suspicion=u, probability=u,
                           flagged=u > 0.5, block=torch.zeros(100), fit=MixtureFit(estimate / 100, 0.5, 5, True, 0.0),
                           reliability={}, wrong_interval=(count.low, count.high), min_probability=0.5, ranks=u,
                           count=count)

    assert result(40.0).estimate_above_bound() and not result(40.0).estimate_stable()
    assert not result(15.0).estimate_above_bound() and result(15.0).estimate_stable()
