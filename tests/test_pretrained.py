"""model.pretrained: every model of a plan starts from the same weights, read from a file the project itself
wrote (a local-dir model, a .safetensors or a .pt state dict); bad values and missing weights stop in one
line that says where the weights must go. Nothing is downloaded."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file, save_file

from clipmem.errors import ConfigError
from clipmem.models import CLIPModule
from clipmem.models.local_dir import save_local_dir

from .conftest import compose_config, load_settings_for, run_script

STARTS: dict[str, dict[str, torch.Tensor]] = {}


class StartWeights(L.Callback):
    """Records each model's weights when its training starts (``STARTS[<model name>]``)."""

    def bind(self, context) -> None:
        self.name = context.spec.name

    def on_train_start(self, trainer, pl_module) -> None:
        STARTS[self.name] = {k: v.detach().clone() for k, v in pl_module.clip.state_dict().items()}


@pytest.fixture(scope="module")
def saved_nano(tmp_path_factory) -> Path:
    """A nano model with seed-123 weights, saved as clipmem saves its models (open_clip local-dir)."""
    torch.manual_seed(123)
    module = CLIPModule(compose_config([]).model.arch, 32, 32, functools.partial(torch.optim.AdamW))
    folder = tmp_path_factory.mktemp("pretrained") / "nano"
    save_local_dir(module.clip, module.model_cfg, folder, {"role": "start"})
    return folder


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _build(pretrained: str, seed: int) -> dict[str, torch.Tensor]:
    settings = load_settings_for(["logger=none", f"model.pretrained={pretrained}"])
    L.seed_everything(seed)
    return settings.recipe.build_module(log_prefix="").clip.state_dict()


def test_every_form_loads_the_same_weights_whatever_the_seed(saved_nano, tmp_path):
    weights = load_file(str(saved_nano / "open_clip_model.safetensors"))
    save_file(weights, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in weights.items()}, "epoch": 3}, tmp_path / "w.pt")
    for pretrained in (f"local-dir:{saved_nano}", str(tmp_path / "w.safetensors"), str(tmp_path / "w.pt")):
        assert _equal(_build(pretrained, 0), weights), pretrained
        assert _equal(_build(pretrained, 7), weights), pretrained
    L.seed_everything(0)
    untrained = load_settings_for(["logger=none"]).recipe.build_module(log_prefix="").clip.state_dict()
    assert not _equal(untrained, weights)  # without model.pretrained: seeded random weights


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.pretrained=/no/such/weights.pt"], "model.pretrained: no such file '/no/such/weights.pt'"),
    (["model.pretrained=local-dir:/no/such/folder"], "model.pretrained: no such folder '/no/such/folder'"),
    (["model.pretrained=laion2b_s34b_b79k"], "an open_clip tag needs model.arch to be a registry name"),
    (["model=vit_b32", "model.pretrained=no_such_tag"], "its tags: ['openai', 'laion400m_e31'"),
])
def test_bad_pretrained_values_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_settings_for(["logger=none", *overrides])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_weights_of_another_architecture_are_refused(saved_nano):
    with pytest.raises(ConfigError, match=r"does not fit model.arch \((RuntimeError|AssertionError)"):
        load_settings_for(["logger=none", "model=vit_b32", f"model.pretrained=local-dir:{saved_nano}"])


def test_a_tag_without_network_says_where_to_put_the_weights(tmp_path):
    cache = tmp_path / "cache"
    done = run_script("train.py", "model=vit_b32", "model.pretrained=laion2b_s34b_b79k", f"model.cache_dir={cache}",
                      "logger=none", f"run_dir={tmp_path / 'run'}", timeout=180,
                      env={"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-2000:]
    assert "cannot get the 'laion2b_s34b_b79k' weights of ViT-B-32" in lines[0]
    assert f"put them into {cache}" in lines[0] and "model.pretrained=/path/to/weights.safetensors" in lines[0]
    assert not (tmp_path / "run" / "models").exists()


def test_f_and_g_start_from_the_file_and_evaluate_needs_it_no_more(saved_nano, tmp_path):
    from clipmem.run import evaluate_run_dir, run_experiment

    start = tmp_path / "start"
    shutil.copytree(saved_nano, start)
    run_dir = tmp_path / "run"
    STARTS.clear()
    metrics = run_experiment(compose_config([
        "debug=fast", f"run_dir={run_dir}", f"model.pretrained=local-dir:{start}", "callbacks=none",
        "+callbacks.start._target_=tests.test_pretrained.StartWeights"]))
    weights = load_file(str(start / "open_clip_model.safetensors"))
    assert set(STARTS) == {"f", "g"}
    assert _equal(STARTS["f"], weights) and _equal(STARTS["g"], weights)
    trained = load_file(str(run_dir / "models" / "f" / "open_clip_model.safetensors"))
    assert not _equal(trained, weights)  # and then f trained
    shutil.rmtree(start)  # the saved models carry their own weights: re-scoring does not need the start
    again = evaluate_run_dir(run_dir)
    assert again["clipmem_raw_mean"] == pytest.approx(metrics["clipmem_raw_mean"], abs=1e-6)


def test_a_pretrained_start_at_a_from_scratch_rate_is_warned_and_finetune_lowers_it(saved_nano, caplog):
    pretrained = f"model.pretrained=local-dir:{saved_nano}"
    with caplog.at_level("WARNING", logger="clipmem"):
        load_settings_for([pretrained])
    assert any("is a from-scratch rate" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="clipmem"):
        settings = load_settings_for([pretrained, "finetune=default"])
    assert not any("from-scratch" in r.getMessage() for r in caplog.records)
    assert settings.recipe.training_config["model"]["optimizer"]["lr"] == 1e-4
