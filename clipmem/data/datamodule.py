"""The LightningDataModule: one table, one split manifest, f's or g's training set on request."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from clipmem.data.bad_samples import check_policy
from clipmem.data.miscaption import inject_miscaptions
from clipmem.data.seeding import EpochSampler, crop_rows, keyed_choice, keyed_generator
from clipmem.data.sources import ZeroShotSet
from clipmem.data.splits import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable
from clipmem.data.text import build_tokenizer, tokenize_captions
from clipmem.data.transforms import BatchTransform
from clipmem.data.wds_stream import ShardStream, partition_counts, plan_batches
from clipmem.errors import ConfigError
from clipmem.io import atomic_write_text

CAPTION_DRAW = 1  # salts of the per-item draws: each draw is keyed apart from the others
VIEW_DRAW = 2


def draw_caption(available: int, seed: int, epoch: int, sample_id: int) -> int:
    """Which of a pair's ``available`` captions it shows in ``epoch``: a function of the key only."""
    return keyed_choice(available, seed, epoch, sample_id, CAPTION_DRAW)


class PairDataset(Dataset):
    """Pairs at ``positions`` of a tokenized table; each item is one (image, caption) draw.

    Items: ``image`` uint8 (3, H, W), ``text`` int64 (L,), ``sample_id`` int64 scalar. With
    ``num_captions > 1`` an item shows one of the pair's first ``num_captions`` captions, and with
    ``views`` (N, V, 3, H, W) one of the V images of the pair's scene, both drawn by (seed, epoch,
    sample_id). Index with ``(index, epoch)`` (what ``EpochSampler`` yields) or an int (epoch 0).
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
        seed: int = 0,
    ) -> None:
        self.images, self.tokens, self.sample_ids = images, tokens, sample_ids
        self.positions = positions
        self.available = counts.clamp(max=num_captions)
        self.views = views
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = (key, 0) if isinstance(key, int) else key
        p = int(self.positions[index])
        sid = int(self.sample_ids[p])
        c = draw_caption(int(self.available[p]), self.seed, epoch, sid)
        if self.views is None:
            image = self.images[p]
        else:
            image = self.views[p, keyed_choice(self.views.shape[1], self.seed, epoch, sid, VIEW_DRAW)]
        return {"image": image, "text": self.tokens[p, c], "sample_id": self.sample_ids[p]}


def _named(source: Any, name: str) -> Any:
    """A zero-shot source whose ``name`` is its ``data.zeroshot`` key, so messages and records name that key."""
    if dataclasses.is_dataclass(source) and getattr(source, "name", name) != name:
        return dataclasses.replace(source, name=name)
    return source


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
        on_bad_sample: ``error`` or ``skip``; the sources read it from ``data.on_bad_sample`` (checked here).
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
        on_bad_sample: str = "error",
        caption_augment: Any = None,
    ) -> None:
        super().__init__()
        self.on_bad_sample = check_policy(on_bad_sample)
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
        self.zeroshot_sources = {name: _named(src, name) for name, src in (zeroshot or {}).items()}
        self.num_workers = int(num_workers)
        self.eval_batch_size = int(eval_batch_size)
        self.caption_augment = caption_augment
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
        self._index = None  # streaming only: the source's ShardIndex

    # ----------------------------------------------------------------------------- building
    def build(self) -> SplitManifest:
        """Load the data, draw the splits, inject mis-captions. Idempotent; returns the manifest."""
        if self.manifest is not None:
            return self.manifest
        if getattr(self.source, "streaming", False):
            if self.caption_augment is not None:
                raise ConfigError("mitigation=text_augment is not supported with data.source.streaming=true: "
                                  "streamed pairs carry their captions as stored; load the data into memory")
            table, manifest = self._load_for_streaming()
        else:
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
        self.manifest = dataclasses.replace(self.build(), removed=tuple(sorted(int(i) for i in removed)))
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

    def _dataset(self, ids: tuple[int, ...], num_captions: int, views: bool = False) -> PairDataset:
        return PairDataset(
            self.table.images, self.tokens, self.caption_counts, self.table.sample_ids,
            self.table.positions(list(ids)), num_captions, self.table.views if views else None, self.seed,
        )

    def train_dataloader(self) -> DataLoader:
        """f's or g's pairs in an order seeded by (seed, epoch), this rank's shard of every global batch.

        Build the Trainer with ``use_distributed_sampler=False``: the sampler shards by itself.
        """
        if self.role is None:
            raise RuntimeError("call set_role('f' or 'g') before training")
        if self._index is not None:
            return self._stream_loader()
        dataset = self._dataset(self.manifest.train_ids(self.role), self.train_captions, views=True)
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

    def skipped_samples(self) -> list[dict]:
        """Bad samples left out under ``on_bad_sample=skip``: the training data's, then each zero-shot set's."""
        self.build()
        records = list(self.table.skipped)
        for dataset in self.zeroshot_sets().values():
            records.extend(dataset.skipped)
        return records

    def sample_keys(self) -> tuple[list[int], list[str]] | None:
        """(ids, keys) of every pair whose id came from a string key, or None where ids are row indices."""
        self.build()
        if self._index is not None:
            return self._index.sample_ids.tolist(), list(self._index.keys)
        if self.table.keys is None:
            return None
        return self.table.sample_ids.tolist(), list(self.table.keys)

    # ----------------------------------------------------------------------------- streaming (data=wds)
    def _load_for_streaming(self) -> tuple[ImageTextTable, SplitManifest]:
        """Index the shards, draw the splits on their ids, and decode only S_C ∪ S_E (one filtered pass).

        A candidate or extra image that fails to decode (on_bad_sample=skip) is recorded and the splits are
        drawn again without it, so S_C and S_E are always complete.
        """
        index = self.source.index()
        ids, skipped = index.sample_ids, list(index.skipped)
        while True:
            manifest = make_splits(ids, self.split_sizes, self.seed)
            needed = set(manifest.candidate) | set(manifest.extra)
            subset = self.source.load_subset(needed)
            skipped += subset.skipped
            lost = needed - set(subset.sample_ids.tolist())
            if not lost:
                break
            ids = ids[~np.isin(ids, sorted(lost))]
        self._index = index
        return dataclasses.replace(subset, skipped=skipped, keys=None), manifest

    def _stream_loader(self) -> DataLoader:
        """A loader of whole batches streamed from the shards, planned so ranks, f and g take equal steps."""
        world, rank, batch = self.world_size, self.rank, self.batch_size_per_device
        workers = max(self.num_workers, 1)
        order = np.argsort(self._index.sample_ids)
        sorted_ids = self._index.sample_ids[order]

        def counts(role: str) -> np.ndarray:
            ids = np.asarray(self.manifest.train_ids(role), dtype=np.int64)
            shard_of = self._index.shard_of[order[np.searchsorted(sorted_ids, ids)]]
            return partition_counts(shard_of, len(self._index.shards), world, workers)

        total = min(int((counts(r) // batch).sum(axis=1).min()) for r in ("f", "g"))
        if total < 1:
            raise ConfigError(
                f"streaming: some rank gets no full batch of {batch} from {len(self._index.shards)} shards split "
                f"over {world} devices x {workers} workers; use more shards, fewer workers or a smaller batch"
            )
        flagged = self.table.miscaptioned.nonzero().flatten().tolist()
        override = {int(self.table.sample_ids[p]): self.table.captions[p] for p in flagged}
        stream = ShardStream(
            self.source, self._index.shards, np.asarray(self.manifest.train_ids(self.role)),
            plan_batches(counts(self.role), batch, total), rank, batch, build_tokenizer(self.context_length),
            override, self.train_captions, self.seed, self.source.shuffle_buffer,
        )
        return DataLoader(stream, batch_size=None, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)
