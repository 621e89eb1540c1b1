"""Streaming training data from webdataset shards, for data sets whose images do not fit in memory.

Shards are split across ranks and DataLoader workers (shard ``s`` goes to partition
``s % (world * workers)``); each partition reads its shards, keeps only the current role's training ids,
decodes with PIL, shuffles in a buffer and yields whole batches. How many batches each partition yields
is fixed in advance from the shard index (``plan_batches``), so every rank takes the same number of
steps (no DDP hang on uneven shards) and f and g take the same number of steps (docs/method.md, "Splits").
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from clipmem.data.batches.text import build_tokenizer
from clipmem.data.sources.images import DECODE_ERRORS, decode_image
from clipmem.data.sources.records import key_to_id
from clipmem.data.sources.tar_shards import Shard, TruncatedShard, iter_samples
from clipmem.data.sources.wds_source import ShardIndex
from clipmem.data.splits.manifest import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError


@dataclass(frozen=True)
class Streamed:
    """Training pairs left in their shards: the source (decoding, captions) and its shard ``index``."""

    source: Any
    index: ShardIndex

    @property
    def sample_ids(self) -> np.ndarray:
        return self.index.sample_ids

    @property
    def keys(self) -> list[str]:
        return self.index.keys


def load_for_streaming(source: Any, sizes: dict[str, int], seed: int) -> tuple[ImageTextTable, SplitManifest, Streamed]:
    """Index the shards, draw the splits on their ids, and decode only S_C ∪ S_I ∪ S_E (one filtered pass):
    what is scored, mis-captioned or held out stays in memory; S_S is streamed.

    An image among them that fails to decode (on_bad_sample=skip) is recorded and the splits are drawn
    again without it, so S_C, S_I and S_E are always complete.
    """
    index = source.index()
    ids, skipped = index.sample_ids, list(index.skipped)
    while True:
        manifest = make_splits(ids, sizes, seed)
        needed = set(manifest.candidate) | set(manifest.independent) | set(manifest.extra)
        subset = source.load_subset(needed)
        skipped += subset.skipped
        lost = needed - set(subset.sample_ids.tolist())
        if not lost:
            break
        ids = ids[~np.isin(ids, sorted(lost))]
    return (dataclasses.replace(subset, skipped=skipped, keys=None, counts=index.counts), manifest,
            Streamed(source, index))


def partition_counts(shard_of: np.ndarray, num_shards: int, world_size: int, num_workers: int) -> np.ndarray:
    """(world_size, workers) number of the given samples (their shard indices ``shard_of``) in each partition."""
    parts = world_size * num_workers
    per_shard = np.bincount(shard_of, minlength=num_shards)
    counts = np.zeros(parts, dtype=np.int64)
    np.add.at(counts, np.arange(num_shards) % parts, per_shard)
    return counts.reshape(world_size, num_workers)


def plan_batches(counts: np.ndarray, batch_size: int, total: int | None = None) -> np.ndarray:
    """(world_size, workers) batches each partition yields: at most its full batches, the same sum per rank.

    counts: (world_size, workers) samples per partition. ``total`` caps the batches per rank (default: the
    smallest rank's full batches). Rank sums are brought down to ``total`` from the largest partitions first.
    """
    capacity = counts // batch_size
    target = int(capacity.sum(axis=1).min()) if total is None else int(total)
    if target > int(capacity.sum(axis=1).min()):
        raise ValueError(f"plan of {target} batches per rank exceeds a rank's {int(capacity.sum(axis=1).min())}")
    plan = capacity.copy()
    for rank in range(plan.shape[0]):
        while plan[rank].sum() > target:
            plan[rank, int(np.argmax(plan[rank]))] -= 1
    return plan


def _complete_samples(shard: Shard):
    """The samples of ``shard`` up to where it breaks off: the index reported a truncated shard and left its
    lost samples out of the plan, so the stream ends that shard there too."""
    try:
        yield from iter_samples(shard)
    except TruncatedShard:
        return


class ShardStream(IterableDataset):
    """Batches of training pairs streamed from shards: ``image`` uint8 (B, 3, R, R), ``text`` int64 (B, L),
    ``sample_id`` int64 (B,). Use with ``DataLoader(batch_size=None)``.

    Args:
        source: the ``WebDatasetSource`` (decoding, captions, resolution).
        shards: all shard paths, in index order.
        train_ids: the sample ids to train on (others are passed over).
        plan: (world_size, workers) batches per partition (``plan_batches``).
        rank: this process's rank.
        batch_size: batch size per device.
        tokenizer: open_clip tokenizer (callable on a list of strings).
        caption_override: id -> captions for pairs whose captions were exchanged (mis-captions).
        num_captions: a pair's caption is drawn among its first ``num_captions``.
        seed: shuffling seed; the epoch counts ``__iter__`` calls of this copy (persistent workers keep it).
        shuffle_buffer: samples held for shuffling.
    """

    def __init__(self, source, shards: list[Shard], train_ids: np.ndarray, plan: np.ndarray, rank: int,
                 batch_size: int, tokenizer, caption_override: dict[int, list[str]], num_captions: int = 1,
                 seed: int = 0, shuffle_buffer: int = 2048) -> None:
        super().__init__()
        self.source, self.shards, self.plan, self.rank = source, list(shards), plan, int(rank)
        self.train_ids = frozenset(int(i) for i in np.asarray(train_ids).tolist())
        self.batch_size, self.tokenizer = int(batch_size), tokenizer
        self.caption_override, self.num_captions = dict(caption_override), int(num_captions)
        self.seed, self.shuffle_buffer = int(seed), int(shuffle_buffer)
        self.epoch = 0

    def __len__(self) -> int:
        return int(self.plan[self.rank].sum())

    def _wanted(self, sid: int) -> bool:
        return sid in self.train_ids

    def _samples(self, shards: list[Path], rng: random.Random):
        """(sample_id, uint8 (3, R, R) image, caption) of the wanted samples of ``shards``, in file order."""
        for shard in shards:
            for key, files in _complete_samples(shard):
                sid = key_to_id(key)
                if not self._wanted(sid):
                    continue
                data = self.source.image_of(files)
                try:
                    image = decode_image(data, self.source.resolution)
                except (*DECODE_ERRORS, TypeError) as err:
                    raise ConfigError(f"{shard}: bad sample at key {key!r} while streaming: image cannot be decoded "
                                      f"({err}); streaming cannot skip samples after the step count is fixed") from err
                captions = self.caption_override.get(sid) or self.source.captions_of(files)
                n = min(len(captions), self.num_captions)
                yield sid, image, captions[0 if n == 1 else rng.randrange(n)]

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        if workers != self.plan.shape[1]:
            raise RuntimeError(f"stream planned for {self.plan.shape[1]} workers, running with {workers}")
        parts = self.plan.shape[0] * workers
        mine = [s for i, s in enumerate(self.shards) if i % parts == self.rank * workers + worker]
        rng = random.Random(f"{self.seed}/{self.epoch}/{self.rank}/{worker}")
        self.epoch += 1
        rng.shuffle(mine)
        quota = int(self.plan[self.rank, worker])
        buffer: list = []
        batch: list = []
        made = 0
        stream = self._samples(mine, rng)
        for item in stream:
            if made == quota:
                break
            buffer.append(item)
            if len(buffer) < self.shuffle_buffer:
                continue
            batch.append(buffer.pop(rng.randrange(len(buffer))))
            if len(batch) == self.batch_size:
                yield self._collate(batch)
                made, batch = made + 1, []
        rng.shuffle(buffer)
        while made < quota and len(batch) + len(buffer) >= self.batch_size:
            take = self.batch_size - len(batch)
            batch, buffer = batch + buffer[:take], buffer[take:]
            yield self._collate(batch)
            made, batch = made + 1, []
        if made < quota:
            raise RuntimeError(f"shard stream made {made} of {quota} planned batches; did the shards change?")

    def _collate(self, batch: list) -> dict[str, torch.Tensor]:
        ids, images, texts = zip(*batch, strict=True)
        return {
            "image": torch.from_numpy(np.stack(images)),
            "text": self.tokenizer(list(texts)),
            "sample_id": torch.tensor(ids, dtype=torch.int64),
        }


@dataclass(frozen=True)
class RankPlace:
    """Where a loader runs: this process's ``rank`` among ``world`` devices, each taking ``batch`` pairs a step."""

    world: int
    rank: int
    batch: int


def stream_loader(data: Any, train_ids: tuple[int, ...], peers: list[tuple[int, ...]], seed: int,
                  place: RankPlace) -> DataLoader:
    """A loader of whole batches streamed from the shards of ``data.stream``, planned so every rank and
    every model of the plan (``peers``: each model's training ids) takes the same number of steps; ``seed``: the
    model's training seed (the shuffle)."""
    world, rank, batch = place.world, place.rank, place.batch
    index, workers = data.stream.index, max(data.num_workers, 1)
    order = np.argsort(index.sample_ids)
    sorted_ids = index.sample_ids[order]

    def counts(ids: tuple[int, ...]) -> np.ndarray:
        wanted = np.asarray(ids, dtype=np.int64)
        shard_of = index.shard_of[order[np.searchsorted(sorted_ids, wanted)]]
        return partition_counts(shard_of, len(index.shards), world, workers)

    total = min(int((counts(ids) // batch).sum(axis=1).min()) for ids in (*peers, train_ids))
    if total < 1:
        raise ConfigError(
            f"streaming: some rank gets no full batch of {batch} from {len(index.shards)} shards split "
            f"over {world} devices x {workers} workers; use more shards, fewer workers or a smaller batch"
        )
    table = data.table
    override = {int(table.sample_ids[p]): table.captions[p] for p in table.miscaptioned.nonzero().flatten().tolist()}
    stream = ShardStream(
        data.stream.source, index.shards, np.asarray(train_ids), plan_batches(counts(train_ids), batch, total), rank,
        batch, build_tokenizer(data.context_length), override, data.train_captions, seed,
        data.stream.source.shuffle_buffer,
    )
    return DataLoader(stream, batch_size=None, num_workers=data.num_workers, persistent_workers=data.num_workers > 0)
