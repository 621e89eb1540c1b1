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
from clipmem.evaluation.encode import Batching, eval_mode
from clipmem.io import atomic_write
from clipmem.scoring.clipmem import (
    Reference,
    ViewEmbeddings,
    alignment,
    model_statistic,
    model_value,
    out_of_fold_contrast,
)
from clipmem.scoring.compat import ids_sha256
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.views import ViewTransforms, encode_reference, encode_views, plan_views


@dataclass(frozen=True)
class SampleStatistics:
    """One model's statistic on the scored pairs: ``align`` A_h and ``contrast`` C_h, float32 (N,), in the
    order of ``sample_ids`` (N,). ``value`` is L_h = A_h − C_h (docs/method.md, "The score").

    ``image`` and ``text`` (N, D), float32, are the pairs' embeddings averaged over the scoring views, kept
    where an estimator compares pairs with each other (the audit of ``design=crossfit``); None otherwise.
    """

    sample_ids: torch.Tensor
    align: torch.Tensor
    contrast: torch.Tensor
    image: torch.Tensor | None = None
    text: torch.Tensor | None = None

    @property
    def value(self) -> torch.Tensor:
        return model_value(self.align, self.contrast)


class ModelScorer:
    """Statistics of any model on fixed pairs (``scored_ids``) against S_E, under one view plan.

    The plan (crops, caption and view draws) is drawn once from ``config.seed``, so every model of a plan
    (and f at every epoch) is compared on identical views.
    """

    def __init__(self, data: ExperimentData, scored_ids: tuple[int, ...], config: ScoringConfig,
                 device: torch.device | str = "cpu") -> None:
        self.data, self.config, self.device = data, config, torch.device(device)
        self.batching = Batching(config.batch_size, self.device, config.bf16)
        self.pairs = data.pairs_of(scored_ids)
        self.extra = data.pairs("extra")
        views = self.pairs.views
        self.plan = plan_views(self.pairs.counts, config.num_views, data.train_transform, config.seed,
                               config.augment_images, image_views=1 if views is None else views.shape[1])

    def embed_views(self, model: torch.nn.Module) -> ViewEmbeddings:
        """Scored-pair views (N, K, D) of ``model``."""
        transforms = ViewTransforms(self.data.train_transform, self.data.eval_transform)
        with eval_mode(model):
            return encode_views(model, self.pairs, self.plan, transforms, self.batching)

    def embed(self, model: torch.nn.Module) -> tuple[ViewEmbeddings, Reference]:
        """Scored-pair views (N, K, D) and S_E reference (M, D) of ``model``."""
        if len(self.extra) == 0:
            raise ValueError("the contrast term needs held-out pairs S_E (data.splits.extra ≥ 1), or design=crossfit")
        views = self.embed_views(model)
        with eval_mode(model):
            reference = encode_reference(model, self.extra, self.data.eval_transform, self.batching)
        return views, reference

    def statistics(self, model: torch.nn.Module, outside: torch.Tensor | None = None) -> SampleStatistics:
        """A_h and C_h of every scored pair. ``outside`` (N,) bool, the pairs ``model`` did not train on:
        the contrast term then uses them as its reference instead of S_E (``design=crossfit``), and the pairs'
        view-averaged embeddings are kept for the audit's statistics."""
        if outside is None:
            views, reference = self.embed(model)
            align, contrast = model_statistic(views, reference, self.config.contrast)
            return SampleStatistics(self.pairs.sample_ids, align, contrast)
        views = self.embed_views(model)
        align = alignment(views)
        contrast = out_of_fold_contrast(views, outside) if self.config.contrast else torch.zeros_like(align)
        return SampleStatistics(self.pairs.sample_ids, align, contrast, views.image.mean(1), views.text.mean(1))


def statistics_key(config: ScoringConfig, scored_ids: tuple[int, ...], manifest_sha256: str,
                   family: dict[str, Any] | None = None, contrast_reference: str = "held_out") -> str:
    """12 hex chars naming statistics computed with ``config`` on ``scored_ids`` of one split manifest, with a
    family's own scoring settings (``family``; None for CLIP, whose keys are those of runs before families) and
    the contrast term's reference (``held_out`` adds nothing: the keys of runs before ``design=crossfit``)."""
    content = {"scoring": dataclasses.asdict(config), "ids": ids_sha256(scored_ids), "manifest": manifest_sha256}
    if family is not None:
        content["family"] = family
    if contrast_reference != "held_out":
        content["contrast_reference"] = contrast_reference
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def save_statistics(path: Path, stats: SampleStatistics, meta: dict[str, Any]) -> None:
    """Write ``stats`` with ``meta`` (JSON in the safetensors header) atomically."""
    tensors = {"sample_ids": stats.sample_ids.contiguous(), "align": stats.align.contiguous(),
               "contrast": stats.contrast.contiguous()}
    tensors.update({name: value.contiguous() for name in ("image", "text")
                    if (value := getattr(stats, name)) is not None})
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"clipmem": json.dumps(meta)}))


def load_statistics(path: Path) -> SampleStatistics:
    """Statistics written by ``save_statistics``; RunDirError naming the file when it cannot be read."""
    try:
        tensors = load_file(str(path))
        return SampleStatistics(tensors["sample_ids"], tensors["align"], tensors["contrast"], tensors.get("image"),
                                tensors.get("text"))
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path}: not readable per-sample statistics ({type(err).__name__}: {err})") from err
