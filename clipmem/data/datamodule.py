"""The LightningDataModule: one table, one split manifest, f's or g's training set on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from clipmem.data.miscaption import inject_miscaptions
from clipmem.data.seeding import EpochSampler, crop_rows, keyed_choice, keyed_generator
from clipmem.data.sources import ZeroShotSet
from clipmem.data.splits import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable
from clipmem.data.text import build_tokenizer, tokenize_captions
from clipmem.data.transforms import BatchTransform
from clipmem.errors import ConfigError
from clipmem.io import atomic_write_text

CAPTION_DRAW = 1  # salt of the per-item caption draw (another per-item draw takes another salt)


def draw_caption(available: int, seed: int, epoch: int, sample_id: int) -> int:
    """Which of a pair's ``available`` captions it shows in ``epoch``: a function of the key only."""
    return keyed_choice(available, seed, epoch, sample_id, CAPTION_DRAW)


class PairDataset(Dataset):
    """Pairs at ``positions`` of a tokenized table; each item is one (image, caption) draw.

    Items: ``image`` uint8 (3, H, W), ``text`` int64 (L,), ``sample_id`` int64 scalar. With
    ``num_captions > 1`` an item shows one of the pair's first ``num_captions`` captions, drawn by
    (seed, epoch, sample_id). Index with ``(index, epoch)`` (what ``EpochSampler`` yields) or an int
    (epoch 0).
    """

    def __init__(
        self,
        images: torch.Tensor,
        tokens: torch.Tensor,
        counts: torch.Tensor,
        sample_ids: torch.Tensor,
        positions: torch.Tensor,
        num_captions: int = 1,
        seed: int = 0,
    ) -> None:
        self.images, self.tokens, self.sample_ids = images, tokens, sample_ids
        self.positions = positions
        self.available = counts.clamp(max=num_captions)
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = (key, 0) if isinstance(key, int) else key
        p = int(self.positions[index])
        c = draw_caption(int(self.available[p]), self.seed, epoch, int(self.sample_ids[p]))
        return {"image": self.images[p], "text": self.tokens[p, c], "sample_id": self.sample_ids[p]}


class CLIPMemDataModule(L.LightningDataModule):
    """Builds S_S/S_C/S_I/S_E from a data source and serves f's (S_S ∪ S_C) or g's (S_S ∪ S_I) data.

    Args:
        source: object with ``load() -> ImageTextTable`` (see ``clipmem.data.sources``).
        splits: sizes {shared, candidate, independent, extra}.
        seed: split seed (the experiment seed).
        batch_size: global batch size, divided across devices.
        image_size: model input side in pixels.
        context_length: tokenizer context length of the model.
        augment: ``scale`` and ``ratio`` ranges of the training crop.
        train_captions: captions per pair used in training (1 = the primary caption only).
        miscaption: ``fraction`` of candidates whose captions are exchanged (ground truth for tests).
        zeroshot: name -> source with ``load() -> ZeroShotSet``.
        num_workers: DataLoader workers (0 is fastest here: data is in memory).
        eval_batch_size: batch size of evaluation encoders.
    """

    def __init__(
        self,
        source: Any,
        splits: dict[str, int],
        seed: int,
        batch_size: int = 64,
        image_size: int = 32,
        context_length: int = 32,
        augment: dict[str, Any] | None = None,
        train_captions: int = 1,
        miscaption: dict[str, Any] | None = None,
        zeroshot: dict[str, Any] | None = None,
        num_workers: int = 0,
        eval_batch_size: int = 256,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be ≥ 1, got {batch_size}")
        if train_captions < 1:
            raise ConfigError(f"data.train_captions must be ≥ 1, got {train_captions}")
        self.source = source
        self.split_sizes = dict(splits)
        self.seed = int(seed)
        self.global_batch_size = int(batch_size)
        self.context_length = int(context_length)
        self.train_captions = int(train_captions)
        self.miscaption_fraction = float((miscaption or {}).get("fraction", 0.0))
        self.zeroshot_sources = dict(zeroshot or {})
        self.num_workers = int(num_workers)
        self.eval_batch_size = int(eval_batch_size)
        augment = dict(augment or {})
        self.train_transform = BatchTransform(image_size, train=True, **augment)
        self.eval_transform = BatchTransform(image_size, train=False)
        self.role: str | None = None
        self.world_size, self.rank = 1, 0  # set from the trainer in setup()
        self.batch_size_per_device = self.global_batch_size
        self.table: ImageTextTable | None = None
        self.manifest: SplitManifest | None = None
        self.tokens: torch.Tensor | None = None
        self.caption_counts: torch.Tensor | None = None
        self._zeroshot: dict[str, ZeroShotSet] | None = None

    # ----------------------------------------------------------------------------- building
    def build(self) -> SplitManifest:
        """Load the data, draw the splits, inject mis-captions. Idempotent; returns the manifest."""
        if self.manifest is not None:
            return self.manifest
        table = self.source.load()
        manifest = make_splits(table.sample_ids.numpy(), self.split_sizes, self.seed)
        table = inject_miscaptions(table, list(manifest.candidate), self.miscaption_fraction, self.seed)
        miscaptioned = tuple(int(i) for i in table.sample_ids[table.miscaptioned].tolist())
        self.manifest = SplitManifest(
            seed=manifest.seed,
            shared=manifest.shared,
            candidate=manifest.candidate,
            independent=manifest.independent,
            extra=manifest.extra,
            miscaptioned=miscaptioned,
        )
        self.table = table
        self.tokens, self.caption_counts = tokenize_captions(table.captions, build_tokenizer(self.context_length))
        return self.manifest

    def check_manifest(self, expected: SplitManifest, source: str) -> None:
        """Refuse to go on if the rebuilt splits differ from a saved manifest (e.g. data changed)."""
        if self.build().sha256 != expected.sha256:
            raise ConfigError(
                f"{source}: the splits rebuilt from the config (sha256 {self.manifest.sha256[:12]}) differ from "
                f"the saved manifest (sha256 {expected.sha256[:12]}); the data or the split config changed"
            )

    def write_manifest(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.build().to_json())

    def set_role(self, role: str) -> None:
        """Serve the training set of model ``role`` ('f' or 'g') from now on."""
        if role not in ("f", "g"):
            raise ValueError(f"role must be 'f' or 'g', got {role!r}")
        self.role = role

    # ----------------------------------------------------------------------------- lightning
    def setup(self, stage: str | None = None) -> None:
        self.build()
        world = self.trainer.world_size if self.trainer is not None else 1
        if self.global_batch_size % world != 0:
            raise ConfigError(
                f"data.batch_size ({self.global_batch_size}) must divide evenly across {world} devices"
            )
        self.batch_size_per_device = self.global_batch_size // world
        self.world_size = world
        self.rank = self.trainer.global_rank if self.trainer is not None else 0

    def _dataset(self, ids: tuple[int, ...], num_captions: int) -> PairDataset:
        return PairDataset(
            self.table.images, self.tokens, self.caption_counts, self.table.sample_ids,
            self.table.positions(list(ids)), num_captions, self.seed,
        )

    def train_dataloader(self) -> DataLoader:
        """f's or g's pairs in an order seeded by (seed, epoch), this rank's shard of every global batch.

        Build the Trainer with ``use_distributed_sampler=False``: the sampler shards by itself.
        """
        if self.role is None:
            raise RuntimeError("call set_role('f' or 'g') before training")
        dataset = self._dataset(self.manifest.train_ids(self.role), self.train_captions)
        sampler = EpochSampler(len(dataset), self.seed, num_replicas=self.world_size,
                               rank=self.rank, shuffle=True, drop_last=True)
        return DataLoader(
            dataset,
            batch_size=self.batch_size_per_device,
            sampler=sampler,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self._dataset(self.manifest.extra, 1),
            batch_size=self.batch_size_per_device,
            shuffle=False,
            num_workers=self.num_workers,
        )

    def on_after_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict[str, torch.Tensor]:
        """Augment training batches with crops drawn by (seed, global step): this rank's rows of the
        global batch's draws, so crops do not depend on the global RNG, on resuming or on the world size."""
        if self.trainer is None or not self.trainer.training:
            return {**batch, "image": self.eval_transform(batch["image"])}
        theta = self.train_transform.crop_params(self.global_batch_size,
                                                 keyed_generator(self.seed, self.trainer.global_step))
        theta = theta[crop_rows(self.global_batch_size, self.rank, self.world_size)][: len(batch["image"])]
        return {**batch, "image": self.train_transform(batch["image"], theta=theta)}

    # ----------------------------------------------------------------------------- evaluation data
    def split_pairs(self, split: str) -> dict[str, Any]:
        """Pairs of one split for evaluation: ``images`` uint8 (M,3,H,W), ``tokens`` (M,C,L),
        ``counts`` (M,), ``sample_ids`` (M,), ``captions`` (M lists), ``miscaptioned`` (M,) bool,
        ``caption_source`` (M,) the id whose captions each pair carries."""
        ids = getattr(self.build(), split)
        pos = self.table.positions(list(ids))
        return {
            "images": self.table.images[pos],
            "tokens": self.tokens[pos, : self.train_captions],
            "counts": self.caption_counts[pos].clamp(max=self.train_captions),
            "sample_ids": self.table.sample_ids[pos],
            "captions": [self.table.captions[int(p)] for p in pos],
            "miscaptioned": self.table.miscaptioned[pos],
            "caption_source": self.table.caption_source[pos],
        }

    def zeroshot_sets(self) -> dict[str, ZeroShotSet]:
        """Zero-shot evaluation sets by name, loaded once."""
        if self._zeroshot is None:
            self._zeroshot = {name: src.load() for name, src in self.zeroshot_sources.items()}
        return self._zeroshot
