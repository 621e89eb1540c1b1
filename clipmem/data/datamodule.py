"""The LightningDataModule: serves one model's training batches (and S_E for validation) from ExperimentData."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from clipmem.data.batches.seeding import EpochSampler, crop_rows, keyed_choice, keyed_generator
from clipmem.data.experiment_data import ExperimentData
from clipmem.data.sources.wds_stream import RankPlace, stream_loader
from clipmem.errors import ConfigError

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
        labels: torch.Tensor | None = None,
    ) -> None:
        self.images, self.tokens, self.sample_ids, self.labels = images, tokens, sample_ids, labels
        self.positions = positions
        self.available = counts.clamp(max=num_captions)
        self.views = views
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """One item: ``key`` is a position or (position, epoch); the rows of a one-item ``__getitems__``."""
        return {name: value[0] for name, value in self.__getitems__([key]).items()}

    def __getitems__(self, keys: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        """A whole batch at once (the DataLoader calls this instead of one item at a time): ``image`` uint8
        (B, 3, H, W), ``text`` (B, L), ``sample_id`` (B,) and, with labels, ``label`` (B,). Each key is a position
        or (position, epoch); the caption and view of each item are drawn by (seed, epoch, sample id), so they
        do not depend on which items share the batch."""
        index = torch.tensor([k if isinstance(k, int) else k[0] for k in keys], dtype=torch.int64)
        epochs = [0 if isinstance(k, int) else k[1] for k in keys]
        p = self.positions[index]
        sids = self.sample_ids[p]
        caption = torch.tensor([draw_caption(int(a), self.seed, e, int(sid))
                                for a, e, sid in zip(self.available[p].tolist(), epochs, sids.tolist(), strict=True)])
        if self.views is None:
            images = self.images[p]
        else:
            view = torch.tensor([keyed_choice(self.views.shape[1], self.seed, e, int(sid), VIEW_DRAW)
                                 for e, sid in zip(epochs, sids.tolist(), strict=True)])
            images = self.views[p, view]
        batch = {"image": images, "text": self.tokens[p, caption], "sample_id": sids}
        if self.labels is not None:
            batch["label"] = self.labels[p]
        return batch


def as_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The DataLoader's collate function for ``PairDataset.__getitems__``: the batch is already made."""
    return batch


def pair_dataset(data: ExperimentData, ids: tuple[int, ...], num_captions: int, seed: int,
                 views: bool = False, labels: bool = False) -> PairDataset:
    """The pairs ``ids`` of ``data`` as a dataset (``views``: draw among each pair's images; ``labels``: items
    carry the training label)."""
    table = data.table
    if labels and table.labels is None:
        raise ConfigError("the supervised family trains on labels, and this data has none (the synthetic data "
                          "has them; a CSV's category column gives them with data.source.label_key)")
    return PairDataset(table.images, data.tokens, data.caption_counts, table.sample_ids, table.positions(list(ids)),
                       num_captions, table.views if views else None, seed, table.labels if labels else None)


class TrainingDataModule(L.LightningDataModule):
    """Serves the training pairs ``train_ids`` of ``data`` to one model, and S_E for validation.

    Args:
        data: the experiment's data (shared by every model of the plan).
        train_ids: the model's training sample ids.
        seed: the model's training seed: data order, caption and view draws, crops.
        peers: every model's training ids (streaming plans equal step counts across them).
        labels: batches carry each pair's training ``label`` (the supervised family).

    Order, caption draws and crops are keyed by (seed, epoch, id) and (seed, global step), so they do not
    depend on the global RNG, on resuming or on the number of devices. Build the Trainer with
    ``use_distributed_sampler=False``: the sampler shards the global batches itself.
    """

    def __init__(self, data: ExperimentData, train_ids: tuple[int, ...], seed: int,
                 peers: list[tuple[int, ...]] | None = None, labels: bool = False) -> None:
        super().__init__()
        self.data, self.train_ids, self.seed, self.labels = data, tuple(train_ids), int(seed), bool(labels)
        self.peers = list(peers or [])
        self.world_size, self.rank = 1, 0  # set from the trainer in setup()
        self.batch_size_per_device = data.batch_size

    def setup(self, stage: str | None = None) -> None:
        world = self.trainer.world_size if self.trainer is not None else 1
        if self.data.batch_size % world != 0:
            raise ConfigError(f"data.batch_size ({self.data.batch_size}) must divide evenly across {world} devices")
        self.batch_size_per_device = self.data.batch_size // world
        self.world_size = world
        self.rank = self.trainer.global_rank if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        """This rank's shard of every global batch, in an order seeded by (seed, epoch)."""
        if self.data.stream is not None:
            if self.labels:
                raise ConfigError("the supervised family needs the data in memory: data.source.streaming=false")
            return stream_loader(self.data, self.train_ids, self.peers, self.seed,
                                 RankPlace(self.world_size, self.rank, self.batch_size_per_device))
        dataset = pair_dataset(self.data, self.train_ids, self.data.train_captions, self.seed, views=True,
                               labels=self.labels)
        overfit = bool(self.trainer is not None and self.trainer.overfit_batches)  # debug=overfit: the same batch
        sampler = EpochSampler(len(dataset), self.seed, num_replicas=self.world_size, rank=self.rank,
                               shuffle=not overfit, drop_last=True)
        workers = self.data.num_workers
        return DataLoader(dataset, batch_size=self.batch_size_per_device, sampler=sampler, drop_last=True,
                          num_workers=workers, persistent_workers=workers > 0, collate_fn=as_batch)

    def val_dataloader(self) -> DataLoader | list:
        if not self.data.manifest.extra:  # nothing held out (design=crossfit): no validation
            return []
        dataset = pair_dataset(self.data, self.data.manifest.extra, 1, self.seed, labels=self.labels)
        return DataLoader(dataset, batch_size=self.batch_size_per_device, shuffle=False,
                          num_workers=self.data.num_workers, collate_fn=as_batch)

    def on_after_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict[str, torch.Tensor]:
        """Augment training batches with crops drawn by (seed, global step): this rank's rows of the
        global batch's draws, so crops do not depend on the global RNG, on resuming or on the world size."""
        if self.trainer is None or not self.trainer.training:
            return {**batch, "image": self.data.eval_transform(batch["image"])}
        size = self.data.batch_size
        theta = self.data.train_transform.crop_params(size, keyed_generator(self.seed, self.trainer.global_step))
        theta = theta[crop_rows(size, self.rank, self.world_size)][: len(batch["image"])]
        return {**batch, "image": self.data.train_transform(batch["image"], theta=theta)}
