"""The data of one experiment as a frozen object: table, split manifest, tokens, transforms, zero-shot sets.

Built once by ``clipmem.data.build.build_data`` (a pure function of the ``data`` settings); every model of
a plan trains on ids of the same object, and scoring reads its pairs. The Lightning DataModule only serves
batches from it (``clipmem.data.datamodule``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import torch

from clipmem.data.batches.text import build_tokenizer
from clipmem.data.batches.transforms import BatchTransform
from clipmem.data.sources.base import ZeroShotSet
from clipmem.data.splits.manifest import SplitManifest
from clipmem.data.splits.near_duplicates import ImageHashes, image_hashes
from clipmem.data.table import ImageTextTable


@dataclass(frozen=True)
class PairSet:
    """Pairs of one split (or any id list) for evaluation, in manifest order.

    ``sample_ids`` (M,), ``images`` uint8 (M, 3, H, W), ``views`` uint8 (M, V, 3, H, W) or None, ``tokens``
    (M, C, L) with C the training caption count, ``counts`` (M,) captions per pair (≤ C), ``captions``
    (M lists), ``miscaptioned`` (M,) bool, ``caption_source`` (M,) the id whose captions each pair carries,
    ``labels`` (M,) int64 training labels (after mislabeling) or None, ``mislabeled`` and ``atypical`` (M,) bool.
    """

    sample_ids: torch.Tensor
    images: torch.Tensor
    views: torch.Tensor | None
    tokens: torch.Tensor
    counts: torch.Tensor
    captions: list[list[str]]
    miscaptioned: torch.Tensor
    caption_source: torch.Tensor
    labels: torch.Tensor | None = None
    mislabeled: torch.Tensor | None = None
    atypical: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.sample_ids)


@dataclass(frozen=True)
class ExperimentData:
    """Everything the models of a plan train and are scored on.

    ``tokens`` (N, C, L) and ``caption_counts`` (N,) follow ``table``'s rows; ``train_captions`` is how
    many captions per pair training and scoring draw from. ``stream`` holds the shard index when training
    pairs are streamed (``data.source.streaming``); then ``table`` holds only S_C, S_I and S_E.
    """

    table: ImageTextTable
    manifest: SplitManifest
    tokens: torch.Tensor
    caption_counts: torch.Tensor
    train_captions: int
    train_transform: BatchTransform
    eval_transform: BatchTransform
    zeroshot: dict[str, ZeroShotSet]
    context_length: int
    batch_size: int
    eval_batch_size: int
    num_workers: int
    stream: Any = None

    def tokenizer(self):
        """open_clip's tokenizer at this data's context length."""
        return build_tokenizer(self.context_length)

    def pairs_of(self, ids: tuple[int, ...] | list[int]) -> PairSet:
        """The pairs with these sample ids, in the given order."""
        pos = self.table.positions(list(ids))
        return PairSet(
            sample_ids=self.table.sample_ids[pos],
            images=self.table.images[pos],
            views=None if self.table.views is None else self.table.views[pos],
            tokens=self.tokens[pos, : self.train_captions],
            counts=self.caption_counts[pos].clamp(max=self.train_captions),
            captions=[self.table.captions[int(p)] for p in pos],
            miscaptioned=self.table.miscaptioned[pos],
            caption_source=self.table.caption_source[pos],
            labels=None if self.table.labels is None else self.table.labels[pos],
            mislabeled=self.table.mislabeled[pos],
            atypical=self.table.atypical[pos],
        )

    @functools.cached_property
    def _hashes(self) -> ImageHashes:
        return image_hashes(self.table.images)

    def hashes_of(self, ids: tuple[int, ...] | list[int]) -> ImageHashes | None:
        """Exact and near-duplicate hashes of these samples' images, or None where the table does not hold them all
        (streamed training data)."""
        if not bool(torch.isin(torch.tensor(list(ids), dtype=torch.int64), self.table.sample_ids).all()):
            return None
        pos = self.table.positions(list(ids))
        return ImageHashes(self._hashes.exact[pos], self._hashes.near[pos], self._hashes.thumb[pos])

    def pairs(self, split: str) -> PairSet:
        """The pairs of one split minus removed ids (``remove_topk``)."""
        return self.pairs_of(self.manifest.kept(split))

    def with_removed(self, removed: tuple[int, ...] | list[int]) -> ExperimentData:
        """A copy whose manifest records ``removed`` ids of S_C and S_I (left out of training and scoring)."""
        manifest = dataclasses.replace(self.manifest, removed=tuple(sorted(int(i) for i in removed)))
        return dataclasses.replace(self, manifest=manifest)

    def with_saved_groups(self, saved: SplitManifest) -> ExperimentData:
        """A copy whose near-duplicate groups are those of the ``saved`` manifest (what its models were planned
        with: a run from before clipmem recorded groups has none, and must be re-planned without them)."""
        manifest = dataclasses.replace(self.manifest, near_duplicates=saved.near_duplicates)
        return dataclasses.replace(self, manifest=manifest)

    def skipped_samples(self) -> list[dict]:
        """Bad samples left out under ``on_bad_sample=skip``: the training data's, then each zero-shot set's."""
        records = list(self.table.skipped)
        for dataset in self.zeroshot.values():
            records.extend(dataset.skipped)
        return records

    def sample_keys(self) -> tuple[list[int], list[str]] | None:
        """(ids, keys) of every pair whose id came from a string key, or None where ids are row indices."""
        if self.stream is not None:
            return self.stream.sample_ids.tolist(), list(self.stream.keys)
        if self.table.keys is None:
            return None
        return self.table.sample_ids.tolist(), list(self.table.keys)
