"""What every model family shares: the protocol a family satisfies, the image-only model that the supervised
and self-supervised families score, and their common LightningModule (the CLIP container's image tower plus a
head; docs/paradigms.md).

A family (``families.<name>``, ``conf/family/*.yaml``) decides how a model of the plan trains (its
LightningModule and the batches its DataModule serves), how it is saved and loaded, which per-sample
statistic it is scored by ("higher = better fit", so that every design's estimator applies unchanged) and
which utility it is measured on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

import lightning as L
import torch
from safetensors.torch import load_file, save_file

from clipmem.errors import ConfigError, RunDirError
from clipmem.io import atomic_write
from clipmem.models.factory import build_clip, resolve_model_cfg
from clipmem.models.local_dir import load_local_dir, save_local_dir
from clipmem.models.module import LossSteps
from clipmem.models.pretrained import load_pretrained
from clipmem.models.schedule import adamw_with_schedule

HEAD_NAME = "head.safetensors"  # inside models/<name>/ beside open_clip's files: the family's head


class Family(Protocol):
    """A model family: ``clip``, ``supervised`` or ``ssl`` (``clipmem.families``), or one defined outside the package
    (docs/extending.md). What reports and checks need of it, it declares itself:

    name: its key under ``families`` and the prefix of its models and metrics.
    score_name: what its memorization score is called in tables (``CLIPMem``, ``SSLMem``).
    colour: its colour in plots (a matplotlib colour).
    towers: the towers UnitMem and LayerMem read (``("image", "text")`` for CLIP).
    log_group: the logger group of its in-training memorization curve (``clipmem/…``).
    """

    name: str
    score_name: str
    colour: str
    towers: tuple[str, ...]
    log_group: str
    utility_kinds: tuple[str, ...]
    utility_label: str

    def scored_label(self, count: int, scoring: Any) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    def scoring_config(self) -> dict[str, Any] | None: ...

    def build_module(self, build: Any, data: Any, log_prefix: str) -> L.LightningModule: ...

    def datamodule(self, data: Any, train_ids: tuple[int, ...], seed: int, peers: list | None) -> Any: ...

    def trained_model(self, module: L.LightningModule) -> torch.nn.Module: ...

    def save(self, module: L.LightningModule, directory: Path, meta: dict[str, Any]) -> None: ...

    def load(self, directory: Path) -> torch.nn.Module: ...

    def scorer(self, data: Any, scored_ids: tuple[int, ...], scoring: Any, device: Any) -> Any: ...

    def utility(self, model: torch.nn.Module, data: Any, device: Any, kinds: tuple[str, ...] | None = None
                ) -> dict[str, float]: ...


def check_epochs(value: Any, family: str) -> int | None:
    """A family's ``max_epochs``: None (the trainer's) or a whole number ≥ 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"families.{family}.max_epochs must be a whole number ≥ 1 or null, got {value!r}")
    return int(value)


def trainer_overrides(family: Any) -> dict[str, Any]:
    """Trainer arguments a family sets for its own models (its ``max_epochs``)."""
    epochs = getattr(family, "max_epochs", None)
    return {} if epochs is None else {"max_epochs": int(epochs)}


class ImageModel(torch.nn.Module):
    """An image tower (open_clip's ``visual``) with an optional head: what the supervised and SSL families
    score and measure. ``encode_image`` gives the tower's (B, D) output (unit-norm with ``normalize``),
    ``logits`` the head's (B, C) output on it."""

    def __init__(self, visual: torch.nn.Module, head: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.visual, self.head = visual, head

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        features = self.visual(images)
        return torch.nn.functional.normalize(features, dim=-1) if normalize else features

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise RuntimeError("this model has no head")
        return self.head(self.visual(images))


class ImageTowerModule(LossSteps, L.LightningModule):
    """Base of the supervised and SSL modules: an open_clip CLIP built from the model config (``model.*``, so
    the image tower is exactly CLIP's and, with equal seeds, starts from CLIP's initial weights), of which only
    the image tower trains, plus the family's ``head``. Keys of the CLIP model config that concern CLIP alone
    (the text tower, embedding noise, a locked image tower) are refused or ignored.

    Subclasses set ``family`` and implement ``make_head(embed_dim)`` and ``_loss(batch)`` (``LossSteps`` logs it).
    """

    family: ClassVar[str] = ""

    def __init__(self, arch: str | dict[str, Any], image_size: int, context_length: int, optimizer: Any,
                 weight_decay: float = 0.1, warmup_steps: float = 0.05, min_lr_ratio: float = 0.0,
                 log_prefix: str = "", lock_image: bool = False, noise: Any = None, pretrained: str | None = None,
                 cache_dir: str | None = None, fused_optimizer: bool = False, **clip_only: Any) -> None:
        super().__init__()
        if lock_image:
            raise ConfigError(f"model.lock_image: the {self.family} family trains only the image tower; "
                              "it cannot be frozen")
        if noise is not None:
            raise ConfigError(f"the {self.family} family has no CLIP embeddings: a mitigation's embedding noise "
                              "(text_noise, image_noise) applies to the clip family only")
        self.model_cfg = resolve_model_cfg(arch, image_size, context_length)
        self.clip = build_clip(self.model_cfg)
        if pretrained:
            load_pretrained(self.clip, pretrained, arch, cache_dir)
        for name, param in self.clip.named_parameters():
            param.requires_grad_(name.startswith("visual."))
        self.head = self.make_head(int(self.model_cfg["embed_dim"]))
        self.optimizer_factory, self.log_prefix = optimizer, log_prefix
        self.schedule = {"weight_decay": weight_decay, "warmup_steps": warmup_steps, "min_lr_ratio": min_lr_ratio,
                         "fused": fused_optimizer}

    def make_head(self, embed_dim: int) -> torch.nn.Module:
        raise NotImplementedError

    def scoring_model(self) -> ImageModel:
        """The tower and head as an ``ImageModel`` (the same parameters, not a copy)."""
        return ImageModel(self.clip.visual, self.head)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW groups of the image tower and the head: no decay on 1-d tensors, norms and biases."""
        decay, no_decay = [], []
        for name, param in [*self.clip.visual.named_parameters(), *self.head.named_parameters()]:
            if param.requires_grad:
                exclude = param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name
                (no_decay if exclude else decay).append(param)
        return [{"params": decay, "weight_decay": self.schedule["weight_decay"]},
                {"params": no_decay, "weight_decay": 0.0}]

    def configure_optimizers(self) -> dict[str, Any]:
        return adamw_with_schedule(self.optimizer_factory, self.parameter_groups(),
                                   int(self.trainer.estimated_stepping_batches), self.schedule["warmup_steps"],
                                   self.schedule["min_lr_ratio"], self.schedule["fused"] and self.device.type == "cuda")


def module_kwargs(build: Any, log_prefix: str) -> dict[str, Any]:
    """The model config's arguments bound in ``build`` (the model's partial, ``clipmem.config.settings``: a
    partial of Hydra's deferred target, each layer a ``func`` and its ``keywords``), outer layers winning."""
    layers = []
    while hasattr(build, "func") and hasattr(build, "keywords"):
        layers.append(dict(build.keywords))
        build = build.func
    kwargs: dict[str, Any] = {}
    for keywords in reversed(layers):
        kwargs.update(keywords)
    return {**kwargs, "log_prefix": log_prefix}


def save_tower_model(module: ImageTowerModule, directory: Path, meta: dict[str, Any]) -> None:
    """open_clip's local-dir files of the whole CLIP container (its image tower is the trained one; so the folder
    loads with plain open_clip) and the head as ``head.safetensors``."""
    save_local_dir(module.clip, module.model_cfg, directory, meta)
    state = {k: v.detach().cpu().contiguous() for k, v in module.head.state_dict().items()}
    atomic_write(Path(directory) / HEAD_NAME, lambda tmp: save_file(state, str(tmp)))


def load_tower_model(directory: Path, make_head: Callable[[int, dict[str, Any]], torch.nn.Module]) -> ImageModel:
    """The ``ImageModel`` saved by ``save_tower_model`` in ``directory``; ``make_head(embed_dim, meta)`` builds
    the head its weights load into (``meta``: the model's clipmem_meta.json)."""
    clip, model_cfg, meta = load_local_dir(directory)
    head = make_head(int(model_cfg["embed_dim"]), meta)
    path = Path(directory) / HEAD_NAME
    try:
        head.load_state_dict(load_file(str(path)))
    except (OSError, RuntimeError, ValueError) as err:
        raise RunDirError(f"{path}: not a loadable head ({type(err).__name__}: {err})") from err
    return ImageModel(clip.visual, head).eval()

