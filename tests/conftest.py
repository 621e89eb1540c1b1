"""Shared fixtures: composing the project's Hydra config and running the pipeline once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from clipmem.config import register

register()  # resolvers and schemas before any config is composed

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def compose_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """The config a user would get from ``python train.py <overrides>``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides or []))


def run_script(script: str, *args: str, cwd: Path | None = None, timeout: int = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python <script> args`` as a user would, from ``cwd`` (default: the repository root).

    ``env`` adds environment variables; an empty value removes the variable."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "WANDB_MODE": "offline", **(env or {})}
    env = {key: value for key, value in env.items() if value != ""}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args], cwd=cwd or ROOT, capture_output=True, text=True,
        timeout=timeout, env=env,
    )


def run_in(tmp_path_factory, name: str, overrides: list[str]) -> Path:
    """One real run of ``python train.py <overrides>`` in a fresh temporary folder ``<name>/run`` (for the
    fixtures that share a run)."""
    from clipmem.run import run_experiment

    run_dir = tmp_path_factory.mktemp(name) / "run"
    run_experiment(compose_config([*overrides, f"run_dir={run_dir}"]))
    return run_dir


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """One real run of ``experiment=quick`` (about 2 minutes on 2 cores), shared by the pipeline tests."""
    return run_in(tmp_path_factory, "quick", ["experiment=quick", "logger=none"])


def load_settings_for(overrides: list[str] | None = None):
    """The validated settings of ``python train.py <overrides>`` (nothing loaded or trained)."""
    from clipmem.config.settings import load_settings

    return load_settings(compose_config(["run_dir=/tmp/clipmem-unused", *(overrides or [])]))


def build_data_for(overrides: list[str] | None = None):
    """The ExperimentData of ``python train.py <overrides>`` (mitigation's data changes included)."""
    from clipmem.data import build_data

    return build_data(load_settings_for(overrides).data)


def evaluations_of(run_dir: Path, analysis: str | None) -> list[Path]:
    """The evaluation folders of ``run_dir`` of one kind: ``analysis`` (unitmem, layermem) or None (a re-score)."""
    import json

    return [p for p in (Path(run_dir) / "evaluations").iterdir()
            if json.loads((p / "evaluation.json").read_text()).get("analysis") == analysis]


def evaluated(run_dir: Path):
    """The newest evaluation folder evaluate.py wrote into ``run_dir`` (a RunDir)."""
    from clipmem.rundir import RunDir

    found = RunDir(run_dir).latest_evaluation()
    assert found is not None, f"no evaluations/ in {run_dir}"
    return found


SLOW_TIMEOUT_S = 3 * 3600


def pytest_collection_modifyitems(config, items):
    """Slow end-to-end tests get a generous per-test timeout (the default in pyproject.toml is 20 minutes: a session
    fixture that trains a full run is timed with its first test)."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
