"""Sweeps as a user runs them: a failing job does not stop the others, the table lists every job,
a re-run skips finished jobs, and the jobs of one sweep share a W&B group."""

from __future__ import annotations

import csv
import json
import shutil
import struct
from pathlib import Path

import pytest

from clipmem.config.schema import EvaluateConfig
from clipmem.errors import ConfigError, RunDirError
from clipmem.reporting.sweep import aggregate_sweep
from clipmem.reporting.sweep_jobs import read_job
from clipmem.run import evaluate_entry
from clipmem.run.lifecycle import completed_metrics
from clipmem.rundir import RunDir

from .conftest import run_script

# Job 0 cannot draw its splits (a ClipmemError); job 1 is a real debug=fast run.
SWEEP_ARGS = ("-m", "debug=fast", "logger=wandb", "data.splits.shared=100000,400")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("sweep")
    done = run_script("train.py", *SWEEP_ARGS, f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    return root / "sweep", done


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_failing_job_does_not_stop_the_multirun(sweep):
    sweep_dir, done = sweep
    assert done.returncode == 1, done.stderr[-3000:]  # the sweep reports its failure at the end ...
    assert json.loads((sweep_dir / "1" / "status.json").read_text())["state"] == "complete"  # ... after job 1 ran
    assert "clipmem: error: job 0 failed: data.splits need" in done.stderr
    assert "1 of 2 jobs did not complete" in done.stderr
    assert "Traceback" not in done.stderr


def test_sweep_table_lists_failed_and_complete_jobs(sweep):
    sweep_dir, done = sweep
    rows = _rows(sweep_dir / "sweep_results.csv")
    assert [(r["job"], r["data.splits.shared"], r["status"]) for r in rows] == [
        ("0", "100000", "failed"), ("1", "400", "complete")]
    assert "SplitError: data.splits need 100150 samples" in rows[0]["error"] and rows[0]["clipmem_mean"] == ""
    metrics = json.loads((sweep_dir / "1" / "metrics.json").read_text())
    assert float(rows[1]["clipmem_mean"]) == pytest.approx(metrics["clipmem_mean"])
    assert float(rows[1]["zeroshot_top1_f"]) == pytest.approx(metrics["zeroshot_top1_f"])
    assert rows[1]["retrieval_i2t_r5_f"] != ""
    markdown = (sweep_dir / "sweep_results.md").read_text()
    failed = next(line for line in markdown.splitlines() if line.startswith("| 0 "))
    assert [c.strip() for c in failed.strip("|").split("|")][:4] == ["0", "100000", "none", "failed"]
    assert "SplitError" in markdown and "zeroshot_top1_f (%)" in markdown
    assert "Common overrides: `debug=fast logger=wandb`" in markdown
    for plot in ("memorization_vs_utility.png", "score_distributions.png"):
        assert (sweep_dir / plot).stat().st_size > 5000, plot
    assert "job   0  failed" in done.stdout  # the printed summary names the failure


def test_a_job_without_metrics_is_unfinished(sweep, tmp_path):
    sweep_dir, _ = sweep
    copy = tmp_path / "copy"
    for job in ("0", "1"):
        shutil.copytree(sweep_dir / job, copy / job, ignore=shutil.ignore_patterns("models", "wandb", "report"))
    shutil.copytree(sweep_dir / "1" / ".hydra", copy / "2" / ".hydra")
    RunDir(copy / "2").write_status("running")
    (copy / "3").mkdir()  # not a job directory: ignored
    report = aggregate_sweep(copy)
    assert [(r.job, r.state) for r in report.records] == [("0", "failed"), ("1", "complete"), ("2", "unfinished")]
    assert "says 'running'" in report.records[2].error
    assert [r.job for r in report.failed] == ["0", "2"]
    assert [r["status"] for r in _rows(copy / "sweep_results.csv")] == ["failed", "complete", "unfinished"]
    assert read_job(copy / "1").scores is not None and len(read_job(copy / "1").scores) == 100


def test_evaluate_sweep_dir_and_its_errors(sweep, tmp_path):
    sweep_dir, _ = sweep
    (sweep_dir / "sweep_results.csv").unlink()
    done = run_script("evaluate.py", f"sweep_dir={sweep_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 of 2 jobs complete" in done.stdout and (sweep_dir / "sweep_results.csv").is_file()
    with pytest.raises(ConfigError, match="exactly one of run_dir"):
        evaluate_entry(EvaluateConfig())
    with pytest.raises(ConfigError, match="got both"):
        evaluate_entry(EvaluateConfig(run_dir=str(sweep_dir / "1"), sweep_dir=str(sweep_dir)))
    with pytest.raises(RunDirError, match="holds no job directories"):
        evaluate_entry(EvaluateConfig(sweep_dir=str(tmp_path)))


def _wandb_records(path: Path):
    """Protobuf records of an offline W&B run file (LevelDB-log framing: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # block trailer padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST fragment
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_jobs_of_one_sweep_share_a_wandb_group(sweep):
    sweep_dir, _ = sweep
    runs = {}
    for job in ("0", "1"):
        (path,) = (sweep_dir / job / "wandb").glob("offline-run-*/run-*.wandb")
        records = list(_wandb_records(path))
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        (exit_code,) = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
        runs[job] = (run.run_group, run.job_type, run.display_name, exit_code)
    assert runs["0"][0] == runs["1"][0] == f"default-{sweep_dir.name}"
    assert runs["0"][1].endswith("data.splits.shared=100000") and runs["1"][1].endswith("data.splits.shared=400")
    assert runs["1"][2].startswith("default/1:")
    assert (runs["0"][3], runs["1"][3]) == (1, 0)  # the failed job is marked failed in W&B


def test_rerunning_a_sweep_skips_completed_jobs(sweep):
    sweep_dir, _ = sweep
    job = sweep_dir / "1"
    watched = [job / "metrics.json", job / "scores.csv", job / "status.json", job / "models" / "f" /
               "open_clip_model.safetensors"]
    before = {p: p.stat().st_mtime_ns for p in watched}
    wandb_runs = sorted((job / "wandb").glob("offline-run-*"))
    done = run_script("train.py", *SWEEP_ARGS, f"hydra.sweep.dir={sweep_dir}", cwd=sweep_dir.parent)
    assert done.returncode == 1  # job 0 still fails
    assert f"clipmem: job 1: skipped, already complete with the same config ({job})" in done.stdout
    assert "clipmem: job 0: restarting its failed run" in done.stdout  # and says what it did with the failed one
    assert "training g" not in done.stderr + done.stdout
    assert {p: p.stat().st_mtime_ns for p in watched} == before
    assert sorted((job / "wandb").glob("offline-run-*")) == wandb_runs  # no new W&B run either


def test_a_complete_run_of_another_config_is_not_skipped(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "metrics.json").write_text('{"clipmem_mean": 0.5}')
    run.write_status("complete", config_sha256="abc")
    assert completed_metrics(run, "abc") == {"clipmem_mean": 0.5}
    assert completed_metrics(run, "other") is None
    run.write_status("failed", error="boom", config_sha256="abc")
    assert completed_metrics(run, "abc") is None
