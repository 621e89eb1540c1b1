"""The supervised family (``families.supervised``): CLIP's image tower with a linear classification head,
trained with cross-entropy on each pair's label (the synthetic data's colour+shape class; mislabeled pairs
carry the label of their exchanged captions). Scored by the probability (or margin) of the training label,
whose in − out difference is Feldman's label memorization (docs/paradigms.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch

from clipmem.data.datamodule import TrainingDataModule
from clipmem.data.experiment_data import ExperimentData
from clipmem.errors import ConfigError
from clipmem.evaluation.encode import Batching, eval_mode
from clipmem.evaluation.utility import classification_metrics
from clipmem.families.base import (
    ImageModel,
    ImageTowerModule,
    check_epochs,
    load_tower_model,
    module_kwargs,
    save_tower_model,
)
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.paradigms import SUPERVISED_STATISTICS, supervised_parts
from clipmem.scoring.statistics import SampleStatistics
from clipmem.scoring.views import plan_views


class SupervisedModule(ImageTowerModule):
    """Image tower + ``Linear(embed_dim, num_classes)``; cross-entropy (with ``label_smoothing``) on ``label``."""

    family = "supervised"

    def __init__(self, *args: Any, num_classes: int = 2, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        self.num_classes, self.label_smoothing = int(num_classes), float(label_smoothing)
        super().__init__(*args, **kwargs)

    def make_head(self, embed_dim: int) -> torch.nn.Module:
        return torch.nn.Linear(embed_dim, self.num_classes)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.head(self.clip.visual(batch["image"]))
        return torch.nn.functional.cross_entropy(logits, batch["label"], label_smoothing=self.label_smoothing)


def num_classes(data: ExperimentData) -> int:
    """Classes of the data's labels: its class names, or the largest label + 1."""
    table = data.table
    if table.labels is None:
        raise ConfigError("the supervised family trains on labels, and this data has none (the synthetic data has "
                          "them; a CSV's category column gives them with data.source.label_key)")
    return len(table.classnames) if table.classnames else int(table.labels.max()) + 1


@torch.no_grad()
def view_logits(model: ImageModel, images: torch.Tensor, theta: torch.Tensor | None, data: ExperimentData,
                num_views: int, batching: Batching) -> torch.Tensor:
    """Logits (N, K, C) of K views of uint8 images (N, 3, H, W): the crops ``theta`` (N·K, 2, 3) of the training
    augmentation, or the plain image K times when ``theta`` is None."""
    repeated = images.repeat_interleave(num_views, dim=0) if theta is not None else images
    transform = data.train_transform if theta is not None else data.eval_transform
    out, batch_size = [], int(batching.size)
    with eval_mode(model):
        for start in range(0, len(repeated), batch_size):
            crop = None if theta is None else theta[start:start + batch_size]
            x = transform(repeated[start:start + batch_size].to(batching.torch_device), theta=crop)
            out.append(model.logits(x).float().cpu())
    logits = torch.cat(out)
    return logits.view(len(images), num_views, -1) if theta is not None else \
        logits.unsqueeze(1).expand(-1, num_views, -1)


class SupervisedScorer:
    """The supervised statistic of the scored samples on the K crops of CLIP's scoring plan (same draws)."""

    def __init__(self, data: ExperimentData, scored_ids: tuple[int, ...], config: ScoringConfig, device: Any,
                 statistic: str) -> None:
        self.data, self.config, self.device, self.statistic = data, config, torch.device(device), statistic
        self.pairs = data.pairs_of(scored_ids)
        if self.pairs.labels is None:
            num_classes(data)  # raises the one-line error
        plan = plan_views(self.pairs.counts, config.num_views, data.train_transform, config.seed,
                          config.augment_images)
        self.theta = plan.theta

    def statistics(self, model: ImageModel) -> SampleStatistics:
        logits = view_logits(model.to(self.device), self.pairs.images, self.theta, self.data, self.config.num_views,
                             Batching(self.config.batch_size, self.device))
        align, contrast = supervised_parts(logits, self.pairs.labels, self.statistic)
        return SampleStatistics(self.pairs.sample_ids, align, contrast)


@dataclasses.dataclass(frozen=True)
class SupervisedFamily:
    """``families.supervised`` (``conf/family/supervised.yaml``).

    statistic: ``prob`` (mean softmax probability of the training label over the scoring views) or ``margin``
        (its mean logit margin over the best other class).
    label_smoothing: of the cross-entropy loss.
    max_epochs: epochs of this family's models (None: ``trainer.max_epochs``); Feldman's memorization needs
        models that fit their training set.
    """

    statistic: str = "prob"
    label_smoothing: float = 0.0
    max_epochs: int | None = None
    name: str = dataclasses.field(default="supervised", init=False)
    score_name: ClassVar[str] = "label memorization (Feldman)"
    colour: ClassVar[str] = "tab:orange"
    towers: ClassVar[tuple[str, ...]] = ("image",)
    log_group: ClassVar[str] = "memorization"
    utility_kinds = ("linear_probe", "classifier")
    utility_label = "linear probe, classifier"

    def scored_label(self, count: int, scoring: ScoringConfig) -> str:
        return f"{count} samples x {scoring.num_views} views ({self.statistic} of the training label)"

    def __post_init__(self) -> None:
        if self.statistic not in SUPERVISED_STATISTICS:
            raise ConfigError(f"families.supervised.statistic must be one of {list(SUPERVISED_STATISTICS)}, "
                              f"got {self.statistic!r}")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            raise ConfigError(f"families.supervised.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        check_epochs(self.max_epochs, self.name)

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, "statistic": self.statistic, "label_smoothing": float(self.label_smoothing),
                "max_epochs": self.max_epochs}

    def scoring_config(self) -> dict[str, Any] | None:
        return {"family": self.name, "statistic": self.statistic}

    def build_module(self, build: Any, data: ExperimentData | None, log_prefix: str) -> SupervisedModule:
        classes = 2 if data is None else num_classes(data)  # None: checking the config on the meta device
        return SupervisedModule(**module_kwargs(build, log_prefix), num_classes=classes,
                                label_smoothing=self.label_smoothing)

    def datamodule(self, data: ExperimentData, train_ids: tuple[int, ...], seed: int, peers: list | None
                   ) -> TrainingDataModule:
        return TrainingDataModule(data, train_ids, seed, peers, labels=True)

    def trained_model(self, module: L.LightningModule) -> ImageModel:
        return module.scoring_model()

    def save(self, module: L.LightningModule, directory: Path, meta: dict[str, Any]) -> None:
        save_tower_model(module, directory, {**meta, "num_classes": module.num_classes})

    def load(self, directory: Path) -> ImageModel:
        return load_tower_model(directory, lambda dim, meta: torch.nn.Linear(dim, int(meta["num_classes"])))

    def scorer(self, data: ExperimentData, scored_ids: tuple[int, ...], scoring: ScoringConfig, device: Any
               ) -> SupervisedScorer:
        return SupervisedScorer(data, scored_ids, scoring, device, self.statistic)

    def utility(self, model: ImageModel, data: ExperimentData, device: Any, kinds: tuple[str, ...] | None = None
                ) -> dict[str, float]:
        """Linear probe on every zero-shot set and (``classifier``) the head's top-1 on the sets whose classes
        are the data's: ``linear_probe/<set>/top1``, ``classifier/<set>/top1``."""
        kinds = self.utility_kinds if kinds is None else kinds
        out = classification_metrics(model, data, device, zeroshot=False, linear_probe="linear_probe" in kinds)
        if "classifier" in kinds:
            out.update(classifier_accuracy(model, data, device))
        return out


@torch.no_grad()
def classifier_accuracy(model: ImageModel, data: ExperimentData, device: Any) -> dict[str, float]:
    """The head's top-1 (fraction) on every zero-shot set labelled with the training data's classes."""
    out = {}
    for name, dataset in data.zeroshot.items():
        if list(dataset.classnames) != list(data.table.classnames or []):
            continue
        logits = view_logits(model.to(device), dataset.images, None, data, 1,
                             Batching(data.eval_batch_size, device))[:, 0]
        out[f"classifier/{name}/top1"] = float((logits.argmax(-1) == dataset.labels).double().mean())
    return out
