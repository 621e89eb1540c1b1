"""Invariants over every model config: it builds, trains with a finite loss, and every parameter learns."""

import functools
from pathlib import Path

import open_clip
import pytest
import torch

from clipmem.config import instantiate_checked
from clipmem.errors import ConfigError
from clipmem.models import CLIPModule
from clipmem.models.local_dir import load_local_dir, save_local_dir
from clipmem.models.schedule import warmup_cosine

from .conftest import CONF, compose_config

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if not p.stem.startswith("_"))


def _batch(module: CLIPModule, n: int = 4) -> dict:
    size = module.hparams.image_size
    return {"image": torch.randn(n, 3, size, size), "text": torch.randint(1, 1000, (n, module.hparams.context_length))}


@pytest.mark.parametrize("name", MODELS)
def test_model_config_trains_one_step(name):
    torch.manual_seed(0)
    module: CLIPModule = instantiate_checked(compose_config([f"model={name}"]).model)
    batch = _batch(module, 2 if name != "nano" else 8)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    # Two steps: zero-initialised residual gains (RN50's bn3) pass no gradient until the first update.
    for step in range(2):
        optimizer.zero_grad()
        loss = module._loss(batch)
        assert torch.isfinite(loss)
        loss.backward()
        if step == 0:
            optimizer.step()
    params = module.named_parameters()
    missing = [n for n, p in params if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert not missing, f"{name}: parameters without gradient: {missing[:5]}"


def test_nano_is_about_four_million_parameters():
    module = instantiate_checked(compose_config([]).model)
    assert 3e6 < sum(p.numel() for p in module.parameters()) < 5e6


def test_unknown_architecture_is_named():
    with pytest.raises(ConfigError, match="ViT-Q-99"):
        instantiate_checked(compose_config(["model=vit_b32", "model.arch=ViT-Q-99"]).model)


def test_logit_scale_is_clamped_after_each_step():
    module = instantiate_checked(compose_config([]).model)
    with torch.no_grad():
        module.clip.logit_scale.fill_(10.0)
    module.on_train_batch_end(None, None, 0)
    assert float(module.clip.logit_scale.detach().exp()) == pytest.approx(100.0)


def test_weight_decay_skips_gains_biases_and_logit_scale():
    module = instantiate_checked(compose_config([]).model)
    decay, no_decay = module.parameter_groups()
    assert all(p.ndim >= 2 for p in decay["params"])
    assert any(p is module.clip.logit_scale for p in no_decay["params"])
    total = sum(p.numel() for p in module.parameters())
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == total


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, min_ratio=0.1) == pytest.approx(0.1)


def test_local_dir_round_trip_loads_in_open_clip(tmp_path: Path):
    module = CLIPModule(compose_config([]).model.arch, 32, 32, functools.partial(torch.optim.AdamW))
    save_local_dir(module.clip, module.model_cfg, tmp_path / "m", {"role": "f"})
    loaded, cfg, meta = load_local_dir(tmp_path / "m")
    assert meta == {"role": "f"} and cfg == module.model_cfg
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tmp_path / 'm'}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tmp_path / 'm'}")  # what CLIP_benchmark calls too
    assert tokenizer(["a red circle"]).shape == (1, 32)  # the model's context length
    x, t = torch.randn(2, 3, 32, 32), torch.randint(1, 1000, (2, 32))
    module.clip.eval()
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model.encode_image(x), module.clip.encode_image(x), atol=1e-5)
        assert torch.allclose(loaded.encode_text(t), module.clip.encode_text(t), atol=1e-5)
