"""The self-supervised family (``families.ssl``): SimCLR on CLIP's image tower. Two augmented views of every
image (``ViewAugment``, drawn by (seed, step, view)) go through the tower and an MLP projection head; the
NT-Xent loss pulls each image's two views together against the other images of the global batch. No text, no
labels. Scored by SSLMem's alignment statistic on K augmentations (docs/paradigms.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch

from clipmem.data.batches.seeding import crop_rows, keyed_generator, keyed_seed
from clipmem.data.datamodule import TrainingDataModule
from clipmem.data.experiment_data import ExperimentData
from clipmem.errors import ConfigError
from clipmem.evaluation.encode import Batching, eval_mode
from clipmem.evaluation.utility import classification_metrics
from clipmem.families.augment import ViewAugment, ViewParams
from clipmem.families.base import (
    ImageModel,
    ImageTowerModule,
    check_epochs,
    load_tower_model,
    module_kwargs,
    save_tower_model,
)
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.paradigms import ssl_parts
from clipmem.scoring.statistics import SampleStatistics

VALIDATION_STEP = -1  # the key of the validation views: the same draws at every validation
SCORING_SALT = 0x55E  # SSLMem's scoring views: (scoring seed, salt), the same for every model of a plan
DEFAULT_AUGMENT = {"scale": [0.3, 1.0], "ratio": [0.75, 1.33], "flip": 0.5, "jitter": 0.4, "jitter_p": 0.8,
                   "grayscale_p": 0.2}


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float, all1: torch.Tensor | None = None,
            all2: torch.Tensor | None = None, offset: int = 0) -> torch.Tensor:
    """SimCLR's NT-Xent loss of the local views z1, z2 (B, D) against the global batch's views all1, all2
    (N, D; default: the local ones), whose rows ``offset .. offset + B`` are the local ones. Each of the 2B
    local views is classified among the other 2N − 1 views, its own other view being the right answer; the
    mean cross-entropy is returned. Features are normalised here."""
    z1, z2 = torch.nn.functional.normalize(z1, dim=-1), torch.nn.functional.normalize(z2, dim=-1)
    all1 = z1 if all1 is None else torch.nn.functional.normalize(all1, dim=-1)
    all2 = z2 if all2 is None else torch.nn.functional.normalize(all2, dim=-1)
    n, b = all1.shape[0], z1.shape[0]
    logits = torch.cat([z1, z2]) @ torch.cat([all1, all2]).T / temperature  # (2B, 2N)
    rows = torch.arange(b, device=z1.device) + offset
    own = torch.cat([rows, rows + n])
    mask = torch.zeros_like(logits, dtype=torch.bool)
    mask[torch.arange(2 * b, device=z1.device), own] = True
    target = torch.cat([rows + n, rows])
    return torch.nn.functional.cross_entropy(logits.masked_fill(mask, float("-inf")), target)


class SSLModule(ImageTowerModule):
    """Image tower + projection MLP (embed_dim → ``proj_hidden`` → ``proj_dim``), NT-Xent at ``temperature``
    over the global batch (views gathered with gradients across devices, each rank's own rows as queries)."""

    family = "ssl"

    def __init__(self, *args: Any, temperature: float = 0.2, proj_dim: int = 64, proj_hidden: int = 256,
                 **kwargs: Any) -> None:
        self.temperature, self.proj_dim, self.proj_hidden = float(temperature), int(proj_dim), int(proj_hidden)
        super().__init__(*args, **kwargs)

    def make_head(self, embed_dim: int) -> torch.nn.Module:
        return projection_head(embed_dim, self.proj_hidden, self.proj_dim)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        z1 = self.head(self.clip.visual(batch["view1"]))
        z2 = self.head(self.clip.visual(batch["view2"]))
        world = self.trainer.world_size if self._trainer is not None else 1
        if world == 1:
            return nt_xent(z1, z2, self.temperature)
        all1 = self.all_gather(z1, sync_grads=True).flatten(0, 1)
        all2 = self.all_gather(z2, sync_grads=True).flatten(0, 1)
        return nt_xent(z1, z2, self.temperature, all1, all2, offset=self.global_rank * z1.shape[0])


def projection_head(embed_dim: int, hidden: int, out: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(embed_dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, out))


class SSLDataModule(TrainingDataModule):
    """The training pairs' images as two augmented views, ``view1`` and ``view2`` (B, 3, S, S): the global
    batch's draws keyed by (seed, global step, view), this rank's rows of them (as the CLIP crops)."""

    def __init__(self, data: ExperimentData, train_ids: tuple[int, ...], seed: int, peers: list | None,
                 augment: ViewAugment) -> None:
        super().__init__(data, train_ids, seed, peers)
        self.augment = augment

    def on_after_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict[str, torch.Tensor]:
        training = self.trainer is not None and self.trainer.training
        step = self.trainer.global_step if training else VALIDATION_STEP
        size, count = self.data.batch_size, len(batch["image"])
        rows = crop_rows(size, self.rank, self.world_size)
        views = {}
        for view in (1, 2):
            params = self.augment.params(size, keyed_generator(self.seed, step, view)).rows(rows)
            views[f"view{view}"] = self.augment(batch["image"], params.rows(slice(0, count)))
        return {**batch, **views}


@torch.no_grad()
def encode_views(model: ImageModel, images: torch.Tensor, augment: ViewAugment | None, params: ViewParams | None,
                 transform: Any, batching: Batching) -> torch.Tensor:
    """Unit-norm representations (N, D) of uint8 images (N, 3, H, W): augmented with ``params`` (N rows) or,
    without, through the evaluation ``transform``."""
    out, batch_size = [], int(batching.size)
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size].to(batching.torch_device)
            x = transform(chunk) if params is None else augment(chunk, params.rows(slice(start, start + batch_size)))
            out.append(model.encode_image(x, normalize=True).float().cpu())
    return torch.cat(out)


class SSLScorer:
    """SSLMem's alignment statistic of the scored samples on K augmentations drawn once from the scoring seed."""

    def __init__(self, data: ExperimentData, scored_ids: tuple[int, ...], config: ScoringConfig, device: Any,
                 augment: ViewAugment, views: int) -> None:
        self.data, self.config, self.device, self.augment, self.views = data, config, torch.device(device), \
            augment, int(views)
        self.pairs = data.pairs_of(scored_ids)
        generator = torch.Generator().manual_seed(keyed_seed(config.seed, SCORING_SALT))
        self.params = augment.params(len(self.pairs) * self.views, generator)

    def statistics(self, model: ImageModel) -> SampleStatistics:
        model = model.to(self.device)
        batching, transform = Batching(self.config.batch_size, self.device), self.data.eval_transform
        plain = encode_views(model, self.pairs.images, None, None, transform, batching)
        repeated = self.pairs.images.repeat_interleave(self.views, dim=0)
        views = encode_views(model, repeated, self.augment, self.params, transform, batching)
        align, contrast = ssl_parts(plain, views.view(len(self.pairs), self.views, -1))
        return SampleStatistics(self.pairs.sample_ids, align, contrast)


@dataclasses.dataclass(frozen=True)
class SSLFamily:
    """``families.ssl`` (``conf/family/ssl.yaml``).

    temperature: NT-Xent temperature. proj_dim, proj_hidden: the projection head's output and hidden widths.
    views: K augmentations per sample of SSLMem's alignment statistic (SSLMem's code uses 5).
    augment: the views' augmentation (``ViewAugment``: scale, ratio, flip, jitter, jitter_p, grayscale_p).
    max_epochs: epochs of this family's models (None: ``trainer.max_epochs``).
    """

    temperature: float = 0.2
    proj_dim: int = 64
    proj_hidden: int = 256
    views: int = 5
    augment: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(DEFAULT_AUGMENT))
    max_epochs: int | None = None
    name: str = dataclasses.field(default="ssl", init=False)
    score_name: ClassVar[str] = "SSLMem"
    colour: ClassVar[str] = "tab:green"
    towers: ClassVar[tuple[str, ...]] = ("image",)
    log_group: ClassVar[str] = "memorization"
    utility_kinds = ("linear_probe",)
    utility_label = "linear probe"

    def scored_label(self, count: int, scoring: ScoringConfig) -> str:
        return f"{count} images x {self.views} augmentations (SSLMem alignment)"

    def __post_init__(self) -> None:
        if not float(self.temperature) > 0:
            raise ConfigError(f"families.ssl.temperature must be > 0, got {self.temperature}")
        for key in ("proj_dim", "proj_hidden", "views"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"families.ssl.{key} must be ≥ 1, got {getattr(self, key)}")
        unknown = set(self.augment) - set(DEFAULT_AUGMENT)
        if unknown:
            raise ConfigError(f"families.ssl.augment has unknown keys {sorted(unknown)}; allowed: "
                              f"{sorted(DEFAULT_AUGMENT)}")
        object.__setattr__(self, "augment", {**DEFAULT_AUGMENT, **dict(self.augment)})
        check_epochs(self.max_epochs, self.name)
        self.view_augment(32)  # checks the augmentation's values

    def view_augment(self, image_size: int) -> ViewAugment:
        return ViewAugment(image_size, **self.augment)

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, "temperature": float(self.temperature), "proj_dim": int(self.proj_dim),
                "proj_hidden": int(self.proj_hidden), "augment": dict(self.augment), "max_epochs": self.max_epochs}

    def scoring_config(self) -> dict[str, Any] | None:
        return {"family": self.name, "views": int(self.views), "augment": dict(self.augment)}

    def build_module(self, build: Any, data: ExperimentData | None, log_prefix: str) -> SSLModule:
        return SSLModule(**module_kwargs(build, log_prefix), temperature=self.temperature, proj_dim=self.proj_dim,
                         proj_hidden=self.proj_hidden)

    def datamodule(self, data: ExperimentData, train_ids: tuple[int, ...], seed: int, peers: list | None
                   ) -> SSLDataModule:
        return SSLDataModule(data, train_ids, seed, peers, self.view_augment(data.eval_transform.image_size))

    def trained_model(self, module: L.LightningModule) -> ImageModel:
        return module.scoring_model()

    def save(self, module: L.LightningModule, directory: Path, meta: dict[str, Any]) -> None:
        save_tower_model(module, directory, meta)

    def load(self, directory: Path) -> ImageModel:
        return load_tower_model(directory, lambda dim, meta: projection_head(dim, self.proj_hidden, self.proj_dim))

    def scorer(self, data: ExperimentData, scored_ids: tuple[int, ...], scoring: ScoringConfig, device: Any
               ) -> SSLScorer:
        return SSLScorer(data, scored_ids, scoring, device, self.view_augment(data.eval_transform.image_size),
                         self.views)

    def utility(self, model: ImageModel, data: ExperimentData, device: Any, kinds: tuple[str, ...] | None = None
                ) -> dict[str, float]:
        """Linear probe on every zero-shot set (``linear_probe/<set>/top1``): SSL has no classifier or text."""
        kinds = self.utility_kinds if kinds is None else kinds
        return classification_metrics(model, data, device, zeroshot=False, linear_probe="linear_probe" in kinds)
