"""Extending clipmem without editing the package: a mitigation, a callback and a logger from config alone,
and re-scoring a run made before the plan reshape."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass

import pytest
from hydra.core.config_store import ConfigStore

from clipmem.data.settings import DataSettings
from clipmem.mitigations import EmbeddingNoise, Mitigation
from clipmem.run import evaluate_run_dir, run_experiment

from .conftest import ROOT, compose_config, evaluated, run_in


@dataclass(frozen=True)
class TwoCaptionsAndNoise(Mitigation):
    """A mitigation outside the package: two captions per pair and noise on both embeddings."""

    name = "two_captions_and_noise"
    sigma: float = 0.05
    seed: int = 0

    def configure_data(self, data: DataSettings) -> DataSettings:
        return data.replace(train_captions=2)

    def embedding_noise(self) -> EmbeddingNoise:
        return EmbeddingNoise(text_sigma=self.sigma, image_sigma=self.sigma, seed=self.seed)


ConfigStore.instance().store(group="mitigation", name="two_captions_and_noise",
                             node={"_target_": f"{__name__}.TwoCaptionsAndNoise", "sigma": 0.05, "seed": 0})
FAST = ["debug=fast", "callbacks=none", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    return run_in(tmp_path_factory, "plain", FAST)


def test_a_mitigation_defined_outside_the_package_runs_end_to_end(plain_run, tmp_path):
    metrics = run_experiment(compose_config([*FAST, "mitigation=two_captions_and_noise", f"run_dir={tmp_path}"]))
    assert 0.0 <= metrics["clipmem_mean"] <= 1.0 and metrics["num_candidates"] == 100  # S_C and S_I
    saved = json.loads((tmp_path / "models/f/clipmem_meta.json").read_text())["training_config"]
    assert saved["mitigation"]["_target_"].endswith("TwoCaptionsAndNoise")
    # it took effect: scoring drew among two captions, and training differed from the plain run
    assert (tmp_path / "scores.csv").read_text() != (plain_run / "scores.csv").read_text()
    evaluate_run_dir(tmp_path)  # re-scoring finds the class again from the saved config
    assert evaluated(tmp_path).scores.read_text() == (tmp_path / "scores.csv").read_text()


def test_a_callback_from_the_command_line_logs_the_learning_rate_to_csv(tmp_path):
    run_experiment(compose_config([*FAST, "logger=csv", f"run_dir={tmp_path}",
                                   "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor"]))
    with (tmp_path / "csv" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    lr_columns = [c for c in rows[0] if c.startswith("lr-")]
    assert lr_columns, list(rows[0])
    rates = [float(r[lr_columns[0]]) for r in rows if r[lr_columns[0]]]
    assert len(rates) > 3 and max(rates) > 0 and len(set(rates)) > 1  # warmup then cosine: it moves
    assert any(r.get("f/train/loss_step") for r in rows) and any(r.get("g/train/loss_step") for r in rows)


def test_a_run_made_before_the_reshape_is_rescored_identically(plain_run, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(plain_run, copy)
    (copy / ".hydra" / "config.yaml").write_text((ROOT / "tests/fixtures/legacy_config.yaml").read_text())
    evaluate_run_dir(copy)
    assert evaluated(copy).scores.read_text() == (plain_run / "scores.csv").read_text()
