"""Fault injection: damaged data, changed data, duplicates, interrupted jobs and bad environments.

Each case asserts the one-line message a user sees and that no run directory claims success with lost or
silently altered data. (Also kept elsewhere: SIGKILL + resume identity in test_resume.py, concurrent runs
and one-line CLI errors in test_cli.py, bad rows in test_data_sources.py, image modes in test_image_modes.py,
invalid options before training in test_validation.py.)
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from clipmem.data import CsvSource, WebDatasetSource
from clipmem.data.sources.bad_samples import SHARD_ROW, skip_counts
from clipmem.errors import ConfigError, RunDirError
from clipmem.run import evaluate_run_dir, run_experiment

from .conftest import ROOT, compose_config, run_script
from .data_fixtures import png_bytes, write_image_folder, write_pairs

FAST = ["logger=none", "callbacks=none", "checkpoints=false", "trainer.max_epochs=1", "scoring.num_views=2",
        "trainer.enable_progress_bar=false", "data.source.resolution=32"]
SMALL_SPLITS = "data.splits={shared:120,candidate:20,independent:20,extra:20}"


# ------------------------------------------------------------------------------------------ truncated shards
def _one_shard(path, num: int = 30) -> list[int]:
    """A shard of ``num`` samples (png + txt each); returns the byte offset where each member's header starts."""
    from clipmem.data import SyntheticSource

    table = SyntheticSource(num_samples=num, resolution=16).load()
    starts = []
    with tarfile.open(path, "w") as tar:
        for i in range(num):
            for ext, blob in (("png", png_bytes(table.images[i])), ("txt", table.captions[i][0].encode())):
                starts.append(tar.offset)
                info = tarfile.TarInfo(f"{i:09d}.{ext}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    return starts


CUTS = {  # where the shard is cut, relative to the header of member 31 (sample 15's txt)
    "inside a header": 100,
    "inside data": 512 + 10,
    "at a member boundary": 0,
}


@pytest.mark.parametrize("where", sorted(CUTS))
def test_a_truncated_shard_is_never_read_as_a_shorter_complete_one(where, tmp_path):
    shard = tmp_path / "00000.tar"
    starts = _one_shard(shard)
    cut = starts[31] + CUTS[where]
    shard.write_bytes(shard.read_bytes()[:cut])
    with pytest.raises(ConfigError, match="truncated|unreadable tar data") as caught:
        WebDatasetSource(urls=str(shard), resolution=16).load()
    assert "\n" not in str(caught.value) and str(shard) in str(caught.value)
    table = WebDatasetSource(urls=str(shard), resolution=16, on_bad_sample="skip").load()
    assert table.sample_ids.tolist() == list(range(15))  # sample 15 lost its caption member: not kept
    rows = {record["row"]: record for record in table.skipped}
    assert "unknown" in rows[SHARD_ROW]["reason"] and rows["000000015"]["sample_id"] == "15"
    assert skip_counts(table.skipped) == {"num_skipped": 1, "num_truncated_shards": 1}


def test_an_intact_shard_and_one_cut_inside_its_end_padding_lose_nothing(tmp_path):
    shard = tmp_path / "00000.tar"
    _one_shard(shard)
    full = WebDatasetSource(urls=str(shard), resolution=16).load()
    data = shard.read_bytes()
    last_member_end = len(data.rstrip(b"\0"))
    padded_end = last_member_end + (-last_member_end % 512) + 512  # one end-of-archive block kept
    shard.write_bytes(data[:padded_end])
    again = WebDatasetSource(urls=str(shard), resolution=16).load()
    assert again.sample_ids.tolist() == full.sample_ids.tolist() == list(range(30)) and not again.skipped


def test_a_run_on_a_truncated_shard_says_how_much_is_unknown(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 200)
    shard = tmp_path / "pairs" / "shards" / "00001.tar"
    shard.write_bytes(shard.read_bytes()[: len(shard.read_bytes()) // 2 + 300])
    metrics = run_experiment(compose_config(["data=wds", f"data.source.urls='{paths['shards']}'", *FAST,
                                             "data.splits={shared:100,candidate:15,independent:15,extra:15}",
                                             "data.on_bad_sample=skip", f"run_dir={tmp_path / 'run'}"]))
    assert metrics["num_truncated_shards"] == 1 and metrics["num_skipped"] >= 0
    with (tmp_path / "run" / "skipped_samples.csv").open() as f:
        shard_rows = [r for r in csv.DictReader(f) if r["row"] == SHARD_ROW]
    assert len(shard_rows) == 1 and "unknown" in shard_rows[0]["reason"]


# ------------------------------------------------------------------------------------------ changed data
@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("changed")
    paths = write_pairs(root / "pairs", 200)
    run_dir = root / "run"
    run_experiment(compose_config(["data=csv", f"data.source.path={paths['csv']}", *FAST, SMALL_SPLITS,
                                   f"run_dir={run_dir}"]))
    return run_dir, paths


def _results(run_dir) -> dict[str, str]:
    return {name: (run_dir / name).read_text() for name in ("scores.csv", "metrics.json", "status.json")}


def test_rotated_captions_make_evaluate_refuse_and_the_scores_survive(csv_run, tmp_path):
    run_dir, paths = csv_run
    copy = tmp_path / "pairs"
    shutil.copytree(paths["csv"].parent, copy)
    rows = list(csv.reader((copy / "pairs.csv").open()))
    titles = [r[1] for r in rows[1:]]
    for row, title in zip(rows[1:], titles[1:] + titles[:1], strict=True):
        row[1] = title
    with (copy / "pairs.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = (run / ".hydra" / "config.yaml").read_text().replace(str(paths["csv"]), str(copy / "pairs.csv"))
    (run / ".hydra" / "config.yaml").write_text(config)
    before = _results(run)
    with pytest.raises(ConfigError, match="the data changed since the models were trained") as caught:
        evaluate_run_dir(run)
    assert "\n" not in str(caught.value) and _results(run) == before and not (run / "evaluations").exists()


def test_one_changed_image_makes_evaluate_refuse(csv_run, tmp_path):
    run_dir, paths = csv_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    image = paths["images"] / "3.png"
    original = image.read_bytes()
    try:
        image.write_bytes(png_bytes(__import__("torch").zeros(3, 32, 32, dtype=__import__("torch").uint8)))
        with pytest.raises(ConfigError, match="the data changed since the models were trained"):
            evaluate_run_dir(run)
    finally:
        image.write_bytes(original)
    before = _results(run)
    evaluate_run_dir(run)  # unchanged data: re-scored beside the run, never over it
    assert _results(run) == before


# ------------------------------------------------------------------------------------------ duplicates
def test_exact_duplicate_rows_are_named_or_skipped_and_other_captions_counted(tmp_path):
    paths = write_pairs(tmp_path, 40)
    rows = list(csv.reader(paths["csv"].open()))
    rows.append(list(rows[21]))  # data row 20 again: same file, same caption
    rows.append([rows[22][0], "another caption of the same image", ""])  # data row 21's image, new caption
    with paths["csv"].open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(ConfigError, match=r"row 40 .*exact duplicate of row 20 "):
        CsvSource(path=str(paths["csv"]), resolution=32, caption_keys=["title", "keywords"]).load()
    table = CsvSource(path=str(paths["csv"]), resolution=32, on_bad_sample="skip",
                      caption_keys=["title", "keywords"]).load()
    assert len(table) == 41 and 40 not in table.sample_ids.tolist() and 41 in table.sample_ids.tolist()
    assert [r["row"] for r in table.skipped] == ["40"] and table.counts["same_image_other_caption"] == 1


# ------------------------------------------------------------------------------------------ re-running a sweep
@pytest.mark.slow  # keeps make test under 15 minutes on 2 cores; make test-all runs it
def test_rerunning_an_interrupted_sweep_finishes_every_job(tmp_path):
    present = write_image_folder(tmp_path / "present", "shape", per_class=2)
    absent = tmp_path / "absent"
    args = ["-m", "debug=fast", "logger=none", "callbacks=none", "checkpoints=true", "trainer.max_epochs=3",
            "trainer.enable_progress_bar=false", "+zeroshot@data.zeroshot.shapes=imagefolder",
            f"data.zeroshot.shapes.root={absent},{present}", "data.zeroshot.shapes.resolution=32",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = tmp_path / "sweep" / "1" / "checkpoints" / "f" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not killed_at.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # job 0 failed (no such folder), job 1 killed while training f
    proc.wait()
    assert json.loads((tmp_path / "sweep" / "0" / "status.json").read_text())["state"] == "failed"
    assert json.loads((tmp_path / "sweep" / "1" / "status.json").read_text())["state"] == "running"
    g_weights = tmp_path / "sweep" / "1" / "models" / "g" / "open_clip_model.safetensors"
    g_time = g_weights.stat().st_mtime_ns
    shutil.copytree(present, absent)  # the cause of job 0's failure is gone
    done = run_script("train.py", *args, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "clipmem: job 0: restarting its failed run; the earlier attempt is in" in done.stdout
    assert "clipmem: job 1: resuming its unfinished run from its checkpoints" in done.stdout
    for job in ("0", "1"):
        assert json.loads((tmp_path / "sweep" / job / "status.json").read_text())["state"] == "complete"
    assert g_weights.stat().st_mtime_ns == g_time  # the finished g was kept
    (attempt,) = (tmp_path / "sweep" / "0" / "attempts").iterdir()
    assert json.loads((attempt / "status.json").read_text())["state"] == "failed"


# ------------------------------------------------------------------------------------------ one-line errors
def test_a_corrupt_model_file_is_named(csv_run, tmp_path):
    run_dir, _ = csv_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    weights = run / "models" / "g" / "open_clip_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(RunDirError, match=f"{weights}: not loadable weights") as caught:
        evaluate_run_dir(run)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("args", "expected"), [
    (["logger.wandb.mode=online"], "logger.wandb.mode=online needs a W&B API key"),
    (["run_dir={file}/run"], "cannot create it, {file} is a file, not a folder"),
])
def test_environment_problems_are_one_line(args, expected, tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("")
    args = [a.format(file=afile) for a in args]
    if not any(a.startswith("run_dir") for a in args):
        args.append(f"run_dir={tmp_path / 'run'}")
    done = run_script("train.py", *args, env={"WANDB_API_KEY": "", "HOME": str(tmp_path), "WANDB_MODE": ""})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-1500:]
    assert expected.format(file=afile) in lines[0]


def test_a_non_utf8_csv_names_the_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes(b"filepath,title\na.png,fine\nb.png,caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text: line 3, byte 10 of that line \(byte 0xe9\)"):
        CsvSource(path=str(path)).load()


def test_a_csv_with_a_header_and_no_rows_and_too_few_samples_are_named(tmp_path):
    from clipmem.data.splits.manifest import resolve_sizes
    from clipmem.errors import SplitError

    path = tmp_path / "pairs.csv"
    path.write_text("filepath,title\n")
    with pytest.raises(ConfigError, match="pairs.csv: the header is there but no data row follows it"):
        CsvSource(path=str(path)).load()
    auto = {"shared": 0, "candidate": "auto", "independent": "auto", "extra": 0}
    with pytest.raises(SplitError, match="the data has 1 samples; .* which need at least 2: the data needs more"):
        resolve_sizes(auto, 1)
    with pytest.raises(SplitError, match="leave 1 for candidate and independent .*; lower them"):
        resolve_sizes({**auto, "extra": 2}, 3)


def test_a_re_score_of_a_run_that_failed_early_repeats_its_recorded_failure(tmp_path):
    from clipmem.rundir import RunDir

    run = RunDir(tmp_path)
    run.config.parent.mkdir()
    run.config.write_text("seed: 0\n")
    with pytest.raises(RunDirError, match="has no splits.json .*; is it a clipmem run\\?"):
        run.require_finished_models(())
    run.write_status("failed", error="ConfigError: pairs.csv: bad sample at row 3 (line 5): empty caption")
    with pytest.raises(RunDirError, match="the run failed before writing it: ConfigError: pairs.csv: bad sample"):
        run.require_finished_models(())


def test_ctrl_c_is_recorded_as_interrupted(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline"}
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "debug=fast", "logger=none", "checkpoints=true",
                             "trainer.max_epochs=20", "trainer.enable_progress_bar=false", f"run_dir={run_dir}"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            # a test session started in the background (`cmd &`) ignores SIGINT, and children inherit
                            # that; the run must see Ctrl-C as a terminal would deliver it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while not (run_dir / "checkpoints" / "g" / "last.ckpt").is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, "g wrote no checkpoint within 10 minutes"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and not (run_dir / "metrics.json").exists()


def test_ctrl_c_swallowed_by_a_finaliser_during_a_checkpoint_write_still_interrupts(tmp_path):
    """Deterministic form of the checkpoint-write window: SIGINT is raised inside a finaliser while the first
    checkpoint is written (Python discards it there); the run must still end interrupted with a non-zero exit."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "debug=fast", "logger=none", "checkpoints=true",
                           "trainer.max_epochs=2", "+callbacks.sigint._target_=tests.fault_helpers.SigintInFinaliser",
                           f"run_dir={run_dir}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    status = json.loads((run_dir / "status.json").read_text())
    assert done.returncode != 0 and status["state"] == "interrupted", (done.returncode, status, done.stderr[-2000:])
    assert not (run_dir / "metrics.json").exists()


def test_a_model_that_would_take_no_step_is_refused_before_training(tmp_path):
    """data.batch_size above a model's training set: the last partial batch is dropped, so the model would take no
    optimizer step and score 0.000 everywhere; the run stops first, naming the model and the batch size."""
    from clipmem.run import run_experiment

    from .conftest import compose_config

    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"model g would train on 450 pairs, fewer than one batch"):
        run_experiment(compose_config(["debug=fast", "data.batch_size=512", f"run_dir={run_dir}"]))
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"
    assert not (run_dir / "models").exists()


def test_the_suite_bounds_every_test(pytestconfig):
    """A hung test (a DDP rank waiting for a peer that died) fails with its name instead of running CI out."""
    assert float(pytestconfig.getini("timeout")) > 0


def test_a_full_disk_is_one_line(monkeypatch, capsys):
    """ENOSPC deep inside a library (safetensors reports it as a StorageFull text) ends in one line and exit 1."""
    from clipmem.cli import run_cli

    def job():
        try:
            raise OSError(28, "No space left on device")
        except OSError as err:
            raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })") from err

    with pytest.raises(SystemExit) as stop:
        run_cli(job)
    line = capsys.readouterr().err.strip()
    assert stop.value.code == 1 and line.startswith("clipmem: error: no space left on device") and "\n" not in line


def test_the_terminal_bar_numbers_epochs_as_the_log_lines_do():
    """Lightning's bar said "Epoch 0/0" beside clipmem's "epoch 1/1"; clipmem's bar says "<model>: epoch 1/1"."""
    from types import SimpleNamespace

    from tqdm import tqdm

    from clipmem.callbacks.progress import EpochBar

    bar = EpochBar("g")
    trainer = SimpleNamespace(current_epoch=0, max_epochs=1, num_training_batches=7)
    bar._trainer = trainer
    bar._train_progress_bar = tqdm(total=7, disable=True)
    bar.on_train_epoch_start(trainer, None)
    assert bar.train_progress_bar.desc.startswith("g: epoch 1/1")


def test_plan_progress_says_model_k_of_m_and_time_left(caplog, monkeypatch):
    import clipmem.progress as progress

    clock = iter([0.0, 0.0, 100.0, 250.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with caplog.at_level("INFO", logger="clipmem"):
        plan = progress.PlanProgress(4)  # started at t=0
        plan.begin(0, "r0f0")            # t=0: nothing trained yet, no estimate
        plan.done(100.0, trained=True)
        plan.begin(1, "r0f1")            # t=100: 3 models left at 100 s each
        plan.done(0.0, trained=False)    # a reused model does not count
        plan.begin(2, "r0f2")            # t=250
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["model 1 of 4 (r0f0): 0 s elapsed",
                     "model 2 of 4 (r0f1): 1 min 40 s elapsed, about 5 min 00 s left",
                     "model 3 of 4 (r0f2): 4 min 10 s elapsed, about 3 min 20 s left"]
    assert progress.format_duration(3725) == "1 h 02 min"


@pytest.mark.slow
def test_debug_overfit_drives_the_loss_of_one_batch_towards_zero(tmp_path):
    """debug=overfit trains on one fixed batch (the datamodule stops shuffling under trainer.overfit_batches)."""
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "debug=overfit", f"run_dir={tmp_path / 'run'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    last = [line for line in done.stdout.splitlines() if "g: epoch 150/150" in line][0]
    assert float(last.split("train loss ")[1].split(",")[0]) < 0.5
