"""The LightningDataModule: one table, one split manifest, f's or g's training set on request."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from clipmem.data.miscaption import inject_miscaptions
from clipmem.data.sources import ZeroShotSet
from clipmem.data.splits import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable
from clipmem.data.text import build_tokenizer, tokenize_captions
from clipmem.data.transforms import BatchTransform
from clipmem.errors import ConfigError
from clipmem.io import atomic_write_text


class PairDataset(Dataset):
    """Pairs at ``positions`` of a tokenized table; each item is one (image, caption) draw.

    Items: ``image`` uint8 (3, H, W), ``text`` int64 (L,), ``sample_id`` int64 scalar. With
    ``num_captions > 1`` each access draws one of the pair's first ``num_captions`` captions; with
    ``views`` (N, V, 3, H, W) it also draws one of the V images of the pair's scene.
    """

    def __init__(
        self,
        images: torch.Tensor,
        tokens: torch.Tensor,
        counts: torch.Tensor,
        sample_ids: torch.Tensor,
        positions: torch.Tensor,
        num_captions: int = 1,
        views: torch.Tensor | None = None,
    ) -> None:
        self.images, self.tokens, self.sample_ids = images, tokens, sample_ids
        self.positions = positions
        self.available = counts.clamp(max=num_captions)
        self.views = views

    def __len__(self) -> int:
        return len(self.positions)

    @staticmethod
    def _draw(n: int) -> int:
        """One uniform choice among n (no random draw at all when n == 1)."""
        return 0 if n == 1 else int(torch.randint(n, (1,)))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        p = int(self.positions[index])
        c = self._draw(int(self.available[p]))
        image = self.images[p] if self.views is None else self.views[p, self._draw(self.views.shape[1])]
        return {"image": image, "text": self.tokens[p, c], "sample_id": self.sample_ids[p]}


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
        train_captions: captions per pair used in training (1 = the primary caption only); the
            ``multi_caption`` mitigation sets it. The data must have that many captions for some pair.
        miscaption: ``fraction`` of candidates whose captions are exchanged (ground truth for tests).
        zeroshot: name -> source with ``load() -> ZeroShotSet``.
        num_workers: DataLoader workers (0 is fastest here: data is in memory).
        eval_batch_size: batch size of evaluation encoders.
        caption_augment: callable ``(captions, sample_id) -> extra captions`` with a ``copies``
            attribute (``text_augment`` mitigation): each of a pair's training captions gains
            ``copies`` augmented versions, used in training and in scoring's caption draws.
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
        caption_augment: Any = None,
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
        self.caption_augment = caption_augment
        augment = dict(augment or {})
        self.train_transform = BatchTransform(image_size, train=True, **augment)
        self.eval_transform = BatchTransform(image_size, train=False)
        self.role: str | None = None
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
        self._check_caption_count(table)
        if self.caption_augment is not None:
            table = self._augment_captions(table)
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

    def _check_caption_count(self, table: ImageTextTable) -> None:
        most = max((len(c) for c in table.captions), default=0)
        if self.train_captions > most:
            raise ConfigError(
                f"data.train_captions (mitigation.k of multi_caption) = {self.train_captions}, but the data has at "
                f"most {most} caption(s) per pair; lower it or use data with more captions "
                "(e.g. data.source.captions_per_sample for the synthetic data)"
            )

    def _augment_captions(self, table: ImageTextTable) -> ImageTextTable:
        """Each pair's training captions followed by their augmented copies, then its other captions."""
        k = self.train_captions
        captions = [c[:k] + list(self.caption_augment(c[:k], int(sid))) + c[k:]
                    for c, sid in zip(table.captions, table.sample_ids.tolist(), strict=True)]
        self.train_captions = k * (1 + int(self.caption_augment.copies))
        return table.with_captions(captions, table.miscaptioned, table.caption_source)

    def apply_removal(self, removed: tuple[int, ...]) -> SplitManifest:
        """Drop ``removed`` ids (of S_C and S_I) from both models' training sets and from scoring."""
        self.manifest = replace(self.build(), removed=tuple(sorted(int(i) for i in removed)))
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

    def _dataset(self, ids: tuple[int, ...], num_captions: int, views: bool = False) -> PairDataset:
        return PairDataset(
            self.table.images, self.tokens, self.caption_counts, self.table.sample_ids,
            self.table.positions(list(ids)), num_captions, self.table.views if views else None,
        )

    def train_dataloader(self) -> DataLoader:
        if self.role is None:
            raise RuntimeError("call set_role('f' or 'g') before training")
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self._dataset(self.manifest.train_ids(self.role), self.train_captions, views=True),
            batch_size=self.batch_size_per_device,
            shuffle=True,
            drop_last=True,
            generator=generator,
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
        training = self.trainer is not None and self.trainer.training
        transform = self.train_transform if training else self.eval_transform
        return {**batch, "image": transform(batch["image"])}

    # ----------------------------------------------------------------------------- evaluation data
    def split_pairs(self, split: str) -> dict[str, Any]:
        """Pairs of one split for evaluation: ``images`` uint8 (M,3,H,W), ``tokens`` (M,C,L),
        ``counts`` (M,), ``sample_ids`` (M,), ``captions`` (M lists), ``miscaptioned`` (M,) bool,
        ``caption_source`` (M,) the id whose captions each pair carries, ``views`` uint8
        (M,V,3,H,W) or None. Removed ids (``remove_topk``) are left out."""
        ids = self.build().kept(split)
        pos = self.table.positions(list(ids))
        return {
            "views": None if self.table.views is None else self.table.views[pos],
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
