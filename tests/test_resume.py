"""A run killed mid-training (SIGKILL) and resumed with resume=true ends with the same scores.csv."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from clipmem.errors import ConfigError
from clipmem.run import run_experiment

from .conftest import ROOT, compose_config, run_script

# Three epochs per model, no evaluation callbacks: the kill lands in f with at least an epoch to go.
CONFIG = ["debug=fast", "trainer.max_epochs=3", "model.arch.vision_cfg.layers=1", "model.arch.text_cfg.layers=1",
          "checkpoints=true", "callbacks=none",
          "trainer.enable_progress_bar=false"]


def _start(run_dir) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *CONFIG, f"run_dir={run_dir}"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_when(proc: subprocess.Popen, path, timeout: float = 1200.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if proc.poll() is not None:
            pytest.fail(f"training ended (rc {proc.returncode}) before {path.name} appeared")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_killed_run_resumes_to_the_same_scores(tmp_path):
    killed = tmp_path / "killed"
    proc = _start(killed)
    _kill_when(proc, killed / "checkpoints" / "f" / "last.ckpt")  # g finished, f after its first epoch
    assert not (killed / "scores.csv").exists()
    assert not (killed / "models" / "f").exists()
    g_weights = killed / "models" / "g" / "open_clip_model.safetensors"
    g_mtime = g_weights.stat().st_mtime_ns

    with pytest.raises(ConfigError, match="resume=true"):  # a used run directory is never reused silently
        run_experiment(compose_config([*CONFIG, f"run_dir={killed}"]))

    done = run_script("train.py", *CONFIG, "resume=true", f"run_dir={killed}", timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert g_weights.stat().st_mtime_ns == g_mtime  # the finished g was kept, not retrained

    run_experiment(compose_config([*CONFIG, f"run_dir={tmp_path / 'straight'}"]))
    assert (killed / "scores.csv").read_text() == (tmp_path / "straight" / "scores.csv").read_text()


def test_a_run_that_failed_before_its_splits_starts_again_on_resume_keeping_the_attempt(tmp_path, capsys):
    from clipmem.run.lifecycle import prepare_run_dir
    from clipmem.rundir import RunDir

    run = RunDir(tmp_path / "run")
    (run.root / ".hydra").mkdir(parents=True)
    run.config.write_text("seed: 0\n")
    run.status.write_text('{"state": "failed"}')
    (run.root / "train.log").write_text("bad sample at row 3\n")
    with pytest.raises(ConfigError, match="already holds a run .* pass resume=true"):
        prepare_run_dir(run, resume=False)
    prepare_run_dir(run, resume=True)  # nothing was trained: it starts again in place
    (attempt,) = (run.root / "attempts").iterdir()
    assert sorted(p.name for p in run.root.iterdir()) == ["attempts"]
    assert (attempt / "train.log").read_text() == "bad sample at row 3\n" and (attempt / ".hydra/config.yaml").is_file()
    assert "starting it again" in capsys.readouterr().out
    run.splits.write_text("{}")
    run.status.write_text('{"state": "failed"}')
    prepare_run_dir(run, resume=True)  # with splits there is something to continue: nothing moves
    assert run.status.is_file() and len(list((run.root / "attempts").iterdir())) == 1
