"""``hardware.models_at_once``: models of a plan trained side by side in forked one-thread processes give exactly the
models trained in turn; where it cannot apply it says why; a worker's failure fails the run naming the model."""

from __future__ import annotations

import csv
import json

import pytest

from clipmem.errors import ConfigError
from clipmem.hardware import HardwareSettings
from clipmem.plan import side_by_side
from clipmem.run import run_experiment

from .conftest import compose_config, load_settings_for
from .data_fixtures import write_pairs
from .test_audit import TINY

BASE = {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto", "precision": "32-true",
        "matmul_precision": "highest", "deterministic": True, "gpu_per_job": False, "slurm_auto_requeue": True}


def _audit(tmp_path, name: str, *overrides: str) -> tuple[list[dict], dict]:
    run_dir = tmp_path / name
    run_experiment(compose_config([*TINY, f"data.source.path={tmp_path / 'pairs' / 'pairs.csv'}",
                                   "hardware.threads=1", f"run_dir={run_dir}", *overrides]))
    with (run_dir / "audit.csv").open() as f:
        return list(csv.DictReader(f)), json.loads((run_dir / "status.json").read_text())


def test_side_by_side_trains_exactly_the_models_trained_in_turn(tmp_path):
    write_pairs(tmp_path / "pairs", 121)
    in_turn, _ = _audit(tmp_path, "in_turn", "hardware.models_at_once=1")
    side, status = _audit(tmp_path, "side", "hardware.models_at_once=2")
    assert side == in_turn  # every score of every row, to the last digit
    assert sorted(status["seconds"]) == [f"r{r}f{k}" for r in range(2) for k in range(3)]
    assert all(s["train"] > 0 for s in status["seconds"].values()) and status["state"] == "complete"


def test_a_model_that_fails_side_by_side_fails_the_run_naming_it(tmp_path, monkeypatch):
    write_pairs(tmp_path / "pairs", 121)
    real = side_by_side.train_model

    def failing(context, *args):
        if context.spec.name == "r0f1":
            raise ValueError("injected failure")
        return real(context, *args)

    monkeypatch.setattr(side_by_side, "train_model", failing)  # the forked workers inherit the patch
    with pytest.raises(RuntimeError, match="model r0f1 failed while training side by side.*injected failure"):
        _audit(tmp_path, "failing", "hardware.models_at_once=2")
    assert json.loads((tmp_path / "failing" / "status.json").read_text())["state"] == "failed"


def test_models_at_once_resolves_or_says_why_not(monkeypatch):
    cpu = HardwareSettings(**BASE, models_at_once="auto")
    assert 1 <= cpu.models_side_by_side(10, callbacks=False) <= 10
    assert cpu.models_side_by_side(10, callbacks=True) == 1  # auto falls back: callbacks evaluate during training
    assert HardwareSettings(**BASE, models_at_once=3).models_side_by_side(2, callbacks=False) == 2  # no more than
    assert HardwareSettings(**{**BASE, "accelerator": "gpu"}, models_at_once="auto").models_side_by_side(10, False) == 1
    with pytest.raises(ConfigError, match="hardware.models_at_once=2 .* set callbacks=none"):
        HardwareSettings(**BASE, models_at_once=2).models_side_by_side(10, callbacks=True)
    with pytest.raises(ConfigError, match="CPU processes of one device"):
        HardwareSettings(**{**BASE, "devices": 2}, models_at_once=2).models_side_by_side(10, callbacks=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert cpu.models_side_by_side(10, callbacks=False) == 1  # the requeue signal must reach the training process
    with pytest.raises(ConfigError, match="SLURM job"):
        HardwareSettings(**BASE, models_at_once=2).models_side_by_side(10, callbacks=False)
    no_requeue = HardwareSettings(**{**BASE, "slurm_auto_requeue": False}, models_at_once=2)
    assert no_requeue.models_side_by_side(10, callbacks=False) == 2
    for bad in (0, "two", True, 1.5):
        with pytest.raises(ConfigError, match="hardware.models_at_once must be auto or a whole number"):
            HardwareSettings(**BASE, models_at_once=bad)


def test_the_audit_preset_trains_side_by_side_and_the_default_in_turn():
    assert compose_config(["experiment=audit"]).hardware.models_at_once == "auto"
    assert load_settings_for([]).hardware.models_at_once == 1
