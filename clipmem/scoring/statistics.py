"""Per-model, per-sample statistics: A_h (alignment) and C_h (contrast) of every scored pair under one
view plan shared by all models of a plan, saved beside each model (``sample_stats-<key>.safetensors``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from clipmem.data.experiment_data import ExperimentData
from clipmem.errors import RunDirError
from clipmem.evaluation.encode import eval_mode
from clipmem.io import atomic_write
from clipmem.scoring.clipmem import Reference, ViewEmbeddings, model_statistic
from clipmem.scoring.compat import ids_sha256
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.views import encode_reference, encode_views, plan_views


@dataclass(frozen=True)
class SampleStatistics:
    """One model's statistic on the scored pairs: ``align`` A_h and ``contrast`` C_h, float32 (N,), in the
    order of ``sample_ids`` (N,). ``value`` is L_h = A_h − C_h (docs/method.md, "The score")."""

    sample_ids: torch.Tensor
    align: torch.Tensor
    contrast: torch.Tensor

    @property
    def value(self) -> torch.Tensor:
        return self.align - self.contrast


class ModelScorer:
    """Statistics of any model on fixed pairs (``scored_ids``) against S_E, under one view plan.

    The plan (crops, caption and view draws) is drawn once from ``config.seed``, so every model of a plan
    (and f at every epoch) is compared on identical views.
    """

    def __init__(self, data: ExperimentData, scored_ids: tuple[int, ...], config: ScoringConfig,
                 device: torch.device | str = "cpu") -> None:
        self.data, self.config, self.device = data, config, torch.device(device)
        self.pairs = data.pairs_of(scored_ids)
        self.extra = data.pairs("extra")
        views = self.pairs.views
        self.plan = plan_views(self.pairs.counts, config.num_views, data.train_transform, config.seed,
                               config.augment_images, image_views=1 if views is None else views.shape[1])

    def embed(self, model: torch.nn.Module) -> tuple[ViewEmbeddings, Reference]:
        """Scored-pair views (N, K, D) and S_E reference (M, D) of ``model``."""
        config, data = self.config, self.data
        with eval_mode(model):
            views = encode_views(model, self.pairs.images, self.pairs.tokens, self.plan, data.train_transform,
                                 data.eval_transform, config.batch_size, self.device, config.bf16,
                                 views=self.pairs.views)
            reference = encode_reference(model, self.extra.images, self.extra.tokens, data.eval_transform,
                                         config.batch_size, self.device, config.bf16)
        return views, reference

    def statistics(self, model: torch.nn.Module) -> SampleStatistics:
        views, reference = self.embed(model)
        align, contrast = model_statistic(views, reference, self.config.contrast)
        return SampleStatistics(self.pairs.sample_ids, align, contrast)


def statistics_key(config: ScoringConfig, scored_ids: tuple[int, ...], manifest_sha256: str,
                   family: dict[str, Any] | None = None) -> str:
    """12 hex chars naming statistics computed with ``config`` on ``scored_ids`` of one split manifest, with a
    family's own scoring settings (``family``; None for CLIP, whose keys are those of runs before families)."""
    content = {"scoring": dataclasses.asdict(config), "ids": ids_sha256(scored_ids), "manifest": manifest_sha256}
    if family is not None:
        content["family"] = family
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def save_statistics(path: Path, stats: SampleStatistics, meta: dict[str, Any]) -> None:
    """Write ``stats`` with ``meta`` (JSON in the safetensors header) atomically."""
    tensors = {"sample_ids": stats.sample_ids.contiguous(), "align": stats.align.contiguous(),
               "contrast": stats.contrast.contiguous()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"clipmem": json.dumps(meta)}))


def load_statistics(path: Path) -> SampleStatistics:
    """Statistics written by ``save_statistics``; RunDirError naming the file when it cannot be read."""
    try:
        tensors = load_file(str(path))
        return SampleStatistics(tensors["sample_ids"], tensors["align"], tensors["contrast"])
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path}: not readable per-sample statistics ({type(err).__name__}: {err})") from err
