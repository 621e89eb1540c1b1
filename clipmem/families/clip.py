"""The CLIP family (``families.clip``, the default): today's CLIPModule, scored by CLIPMem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from clipmem.data.datamodule import TrainingDataModule
from clipmem.evaluation.utility import FINAL_KINDS, utility_metrics
from clipmem.families.base import check_epochs
from clipmem.models.local_dir import load_local_dir, save_local_dir
from clipmem.scoring.statistics import ModelScorer


class CLIPFamily:
    """Image–caption pairs, open_clip's contrastive loss, CLIPMem (docs/method.md). Adds nothing to a model's
    record or to its statistics' key, so a run of the CLIP family alone is the run it was before families.

    max_epochs: epochs of this family's models (None: ``trainer.max_epochs``).
    """

    name = "clip"
    score_name = "CLIPMem"
    colour = "tab:purple"
    towers = ("image", "text")
    log_group = "clipmem"
    utility_kinds = FINAL_KINDS
    utility_label = "zero-shot, linear probe, retrieval, validation loss"

    def __init__(self, max_epochs: int | None = None) -> None:
        self.max_epochs = check_epochs(max_epochs, self.name)

    def scored_label(self, count: int, scoring: Any) -> str:
        return f"{count} pairs x {scoring.num_views} views"

    def describe(self) -> dict[str, Any]:
        return {} if self.max_epochs is None else {"family": self.name, "max_epochs": self.max_epochs}

    def scoring_config(self) -> dict[str, Any] | None:
        return None

    def build_module(self, build: Any, data: Any, log_prefix: str) -> L.LightningModule:
        return build(log_prefix=log_prefix)

    def datamodule(self, data: Any, train_ids: tuple[int, ...], seed: int, peers: list | None) -> TrainingDataModule:
        return TrainingDataModule(data, train_ids, seed, peers)

    def trained_model(self, module: L.LightningModule) -> torch.nn.Module:
        return module.clip

    def save(self, module: L.LightningModule, directory: Path, meta: dict[str, Any]) -> None:
        save_local_dir(module.clip, module.model_cfg, directory, meta)

    def load(self, directory: Path) -> torch.nn.Module:
        return load_local_dir(directory)[0]

    def scorer(self, data: Any, scored_ids: tuple[int, ...], scoring: Any, device: Any) -> ModelScorer:
        return ModelScorer(data, scored_ids, scoring, device)

    def utility(self, model: torch.nn.Module, data: Any, device: Any, kinds: tuple[str, ...] | None = None
                ) -> dict[str, float]:
        return utility_metrics(model, data, device, FINAL_KINDS if kinds is None else kinds)
