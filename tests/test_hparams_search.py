"""hparams_search=optuna: a 2-trial Optuna sweep over debug=fast, two trials at a time on the parallel launcher,
optimizing a metric the user chose; train.py returns that metric; each job's threads share the cores."""

from __future__ import annotations

import json

import pytest
import yaml

from clipmem.config.resolvers import optimize_direction
from clipmem.distributed import available_cores
from clipmem.errors import ConfigError
from clipmem.run import objective

from .conftest import run_script

ARGS = ("-m", "hparams_search=optuna", "debug=fast", "optimized_metric=val_loss_f", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2")


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    root = tmp_path_factory.mktemp("optuna")
    done = run_script("train.py", *ARGS, f"hydra.sweep.dir={root / 'sweep'}", cwd=root, env={"OMP_NUM_THREADS": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "sweep", done


def test_the_search_optimizes_the_chosen_metric(search):
    sweep_dir, done = search
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    values = [json.loads((sweep_dir / job / "metrics.json").read_text())["val_loss_f"] for job in ("0", "1")]
    assert results["best_value"] == pytest.approx(min(values))  # val_loss_* is minimized, as train.py returned it
    assert set(results["best_params"]) == {"model.optimizer.lr", "model.weight_decay", "model.warmup_steps"}
    assert f"Best value: {results['best_value']}" in done.stdout + done.stderr
    assert "val_loss_f 3." in done.stdout  # the sweep summary shows each job's chosen metric
    lrs = {yaml.safe_load((sweep_dir / job / ".hydra" / "config.yaml").read_text())["model"]["optimizer"]["lr"]
           for job in ("0", "1")}
    assert len(lrs) == 2 and all(1e-4 <= lr <= 3e-3 for lr in lrs)  # drawn from the search space


def test_parallel_jobs_share_the_cores(search):
    sweep_dir, _ = search
    cores = available_cores()
    expected = f"threads: {max(1, cores // 2)} per process ({cores} cores / 2 process(es) at once)"
    for job in ("0", "1"):
        assert expected in (sweep_dir / job / "train.log").read_text(), job


def test_direction_and_objective():
    assert optimize_direction("val_loss_f") == "minimize" and optimize_direction("zeroshot_top1_f") == "maximize"
    assert objective({"clipmem_raw_mean": 0.25, "clipmem_mean": 0.5}, "clipmem_raw_mean") == 0.25
    assert objective(None, "clipmem_raw_mean") != objective(None, "clipmem_raw_mean")  # NaN on DDP ranks > 0
    with pytest.raises(ConfigError, match=r"optimized_metric='zeroshot_top1_f' is not a metric of this run; it has"):
        objective({"clipmem_mean": 0.5}, "zeroshot_top1_f")


def test_the_search_writes_its_trials_best_first_and_the_best_config_not_setting_differences(search):
    sweep_dir, done = search
    import csv

    with (sweep_dir / "trials.csv").open() as f:
        trials = list(csv.DictReader(f))
    values = [float(t["value"]) for t in trials]
    assert values == sorted(values)  # val_loss_f is minimized: the best (lowest) first
    best = yaml.safe_load((sweep_dir / "best_config.yaml").read_text())
    assert best["model"]["optimizer"]["lr"] == pytest.approx(float(trials[0]["model.optimizer.lr"]))
    assert not (sweep_dir / "sweep_differences.md").exists() and not (sweep_dir / "sweep_settings.md").exists()
    assert "\x1b[" not in done.stdout + done.stderr  # no colour codes from Optuna's logger
