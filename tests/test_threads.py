"""Threads per process: the available cores shared by the processes that run at once (parallel sweep jobs,
CPU DDP devices), unless OMP_NUM_THREADS or hardware.threads says otherwise."""

from __future__ import annotations

import pytest
import torch

from clipmem import distributed, hardware
from clipmem.hardware import threads_for

from .conftest import load_settings_for

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def test_threads_for_divides_the_cores():
    assert threads_for(8, 4) == 2 and threads_for(8, 3) == 2 and threads_for(16, 1) == 16
    assert threads_for(2, 4) == 1 and threads_for(1, 1) == 1 and threads_for(2, 0) == 2


@pytest.mark.parametrize(("launcher", "expected"), [
    (None, 1), ({"_target_": BASIC}, 1), ({"_target_": JOBLIB, "n_jobs": 4}, 4),
    ({"_target_": JOBLIB, "n_jobs": -1}, 8), ({"_target_": JOBLIB, "n_jobs": -2}, 7),
    ({"_target_": JOBLIB, "n_jobs": 32}, 8),
])
def test_parallel_jobs_of_each_launcher(launcher, expected):
    assert distributed.parallel_jobs(launcher, 8) == expected


def test_auto_threads_follow_cores_jobs_and_the_environment(monkeypatch):
    monkeypatch.setattr(hardware, "available_cores", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    settings = load_settings_for(["logger=none"]).hardware
    assert settings.thread_count(None) == (8, "8 cores / 1 process(es) at once")
    assert settings.thread_count({"_target_": JOBLIB, "n_jobs": 4})[0] == 2
    ddp = load_settings_for(["logger=none", "hardware=ddp", "hardware.accelerator=cpu", "hardware.devices=2"]).hardware
    assert ddp.thread_count({"_target_": JOBLIB, "n_jobs": 2})[0] == 2  # 2 jobs x 2 ranks on 8 cores
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # above cores / jobs: the computed count stays
    assert settings.thread_count({"_target_": JOBLIB, "n_jobs": 4}) == (2, "8 cores / 4 process(es) at once")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # below: the environment's limit wins
    assert settings.thread_count({"_target_": JOBLIB, "n_jobs": 4}) == (1, "OMP_NUM_THREADS=1")
    fixed = load_settings_for(["logger=none", "hardware.threads=5"]).hardware
    assert fixed.thread_count({"_target_": JOBLIB, "n_jobs": 4}) == (5, "hardware.threads")


def test_configure_applies_the_thread_count(caplog):
    before = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="clipmem.hardware"):
            load_settings_for(["logger=none", "hardware.threads=1"]).hardware.configure()
        assert torch.get_num_threads() == 1
        assert "threads: 1 per process (hardware.threads)" in caplog.text
    finally:
        torch.set_num_threads(before)
