"""Every group's bad values stop the run before anything trains, in one line naming the key and what is allowed."""

from __future__ import annotations

import pytest

from clipmem.errors import ConfigError

from .conftest import load_settings_for, run_script

# (overrides, what the one-line message must contain): at least one key per group
BAD = [
    (["scoring.normalisation=minmaxx"], "scoring.normalisation must be one of ['minmax', 'range', 'none']"),
    (["scoring.num_views=0"], "scoring.num_views must be ≥ 1"),
    (["report.gallery_size=0"], "report.gallery_size must be ≥ 1"),
    (["mitigation=remove_topk", "mitigation.scores=x.csv", "mitigation.ranking=best"],
     "mitigation.ranking must be one of ['clipmem', 'random', 'lowest_similarity']"),
    (["mitigation=text_noise", "mitigation.sigma=-1"], "mitigation.sigma must be ≥ 0"),
    (["callbacks.utility.every_n_epochs=0"], "callbacks.utility: every_n_epochs must be ≥ 1"),
    (["+callbacks.extra._target_=no.such.Callback"],
     "callbacks.extra: cannot find _target_ 'no.such.Callback'"),
    (["data.on_bad_sample=ignore"], "data.on_bad_sample must be one of ['error', 'skip']"),
    (["data.splits.candidate=abc"], "data.splits.candidate must be a whole number, got 'abc'"),
    (["data.splits.candidate=50.7"], "data.splits.candidate must be a whole number, got 50.7"),
    (["data.miscaption.fraction=2"], "data.miscaption.fraction must be in [0, 1]"),
    (["data.source.label_kind=texture"],
     "label_kind must be one of ['colour_shape', 'shape', 'colour'], got 'texture'"),
    (["model.arch=ViT-Q-99"], "model.arch: 'ViT-Q-99' is not an open_clip architecture"),
    (["model.lock_image=true", "model.lock_text=true"], "lock at most one tower"),
    (["hardware.accelerator=tpu9"], "hardware.accelerator must be one of ['cpu', 'gpu', 'cuda', 'mps', 'auto']"),
    (["optimized_metric=best"], "optimized_metric must be clipmem_raw_mean, clipmem_mean, clipmem_median"),
    (["optimized_metric=miscaption_auc", "data.miscaption.fraction=0"],
     "optimized_metric=miscaption_auc needs injected mis-captions"),
    (["hardware.threads=0"], "hardware.threads must be auto or a whole number ≥ 1, got 0"),
    (["logger.wandb.mode=sometimes"], "logger.wandb.mode must be one of ['auto', 'online', 'offline', 'disabled']"),
    (["+trainer.max_epoch=3"], "trainer.max_epoch is not a lightning.Trainer argument"),
    (["design._target_=clipmem.plan.NoDesign"], "design: cannot find _target_ 'clipmem.plan.NoDesign'"),
    (["seed=-1"], "seed must be ≥ 0, got -1"),
    (["model.optimizer.lr=-1"], "model.optimizer: Invalid learning rate: -1"),
    (["trainer.max_epochs=-1"], "trainer.max_epochs must be ≥ 1, got -1"),
    (["trainer.max_epochs=two"], "trainer.max_epochs must be a whole number, got 'two'"),
    (["trainer.max_epochs=0"], "trainer.max_epochs must be ≥ 1, got 0"),
    (["+trainer.gradient_clip_val=-2"], "trainer.gradient_clip_val must be a number ≥ 0 or null"),
    (["audit.min_probability=nan"], "audit.min_probability must be in (0, 1]"),
    (["design=crossfit", "design.folds=1", "data.splits.extra=0"], "design.folds must be ≥ 2"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[b[0][-1] for b in BAD])
def test_bad_value_is_refused_by_validation(overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_settings_for(overrides)
    text = str(caught.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("override", ["scoring.normalisation=minmaxx", "data.splits.candidate=abc",
                                      "trainer.max_epochs=two"])
def test_the_script_stops_in_one_line_before_training(override, tmp_path):
    done = run_script("train.py", override, "logger=none", f"run_dir={tmp_path}", timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("clipmem: error: ") and override.split("=")[0] in lines[0], lines
    assert "splits and zero-shot sets" not in done.stdout  # stopped before any data was loaded
    assert not (tmp_path / "models").exists()  # nothing trained
    assert '"failed"' in (tmp_path / "status.json").read_text()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_damaged_pretrained_file_is_refused_in_one_line(tmp_path, suffix):
    damaged = tmp_path / f"weights{suffix}"
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError) as caught:
        load_settings_for([f"model.pretrained={damaged}"])
    text = str(caught.value)
    assert f"{damaged} is not a readable checkpoint" in text and "\n" not in text


def test_bootstrap_intervals_need_enough_units():
    with pytest.raises(ConfigError, match="design.ci=bootstrap with 4 resampling units"):
        load_settings_for(["design=inout", "design.ci=bootstrap"])
    load_settings_for(["design=inout", "design.ci=bootstrap", "design.models=20"])  # 10 units: accepted
