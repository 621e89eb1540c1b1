"""Training randomness that does not depend on the global RNG: epoch-seeded order, keyed draws.

A resumed run, a run on N devices and an uninterrupted run must see the same data order, the same
caption draws and the same crops. Each random choice is therefore a pure function of a key
(seed, epoch, index) or (seed, step), never of how many numbers the global torch RNG gave out before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def keyed_seed(*key: int) -> int:
    """A 63-bit seed that is a fixed hash of the integers ``key`` (e.g. seed, epoch, index)."""
    h = 0
    for part in key:
        h = _splitmix64(h ^ (int(part) & _MASK64))
    return h >> 1


def keyed_choice(n: int, *key: int) -> int:
    """A draw in ``range(n)`` that depends only on ``key``: the same key always gives the same index.

    Used per item, e.g. which of a pair's captions it shows at (seed, epoch, index).
    """
    return 0 if n <= 1 else keyed_seed(*key) % n


def keyed_generator(*key: int) -> torch.Generator:
    """A CPU generator seeded from ``key`` (e.g. (seed, global_step) for a batch's augmentation)."""
    return torch.Generator().manual_seed(keyed_seed(*key))


class EpochSampler(Sampler):
    """A shuffled order that is a function of (seed, epoch), sharded over ``num_replicas`` ranks.

    Yields ``(index, epoch)`` keys so a dataset can seed its per-item draws by the epoch even inside
    DataLoader worker processes. Rank r takes positions r, r + W, r + 2W, ... of the epoch's order,
    so with a per-rank batch of B/W the W shards of batch j are exactly positions [jB, (j+1)B) of the
    single-process order: the same global batches on any number of devices. Like
    ``DistributedSampler``, the order is truncated to a multiple of W (``drop_last``) or padded by
    repeating its start. Lightning calls ``set_epoch`` before every epoch, also after resuming.
    """

    def __init__(
        self, size: int, seed: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, drop_last: bool = True
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.size, self.seed, self.shuffle, self.drop_last = int(size), int(seed), shuffle, drop_last
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.epoch = 0
        per_rank = self.size / self.num_replicas
        self.num_samples = math.floor(per_rank) if drop_last else math.ceil(per_rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> list[int]:
        """The single-process order of this epoch (length ``num_samples * num_replicas``)."""
        if self.shuffle:
            order = torch.randperm(self.size, generator=keyed_generator(self.seed, self.epoch)).tolist()
        else:
            order = list(range(self.size))
        total = self.num_samples * self.num_replicas
        if total > len(order):
            order = (order * math.ceil(total / max(len(order), 1)))[:total]
        return order[:total]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(i, self.epoch) for i in self.order()[self.rank :: self.num_replicas]])

    def __len__(self) -> int:
        return self.num_samples


def crop_rows(global_batch: int, rank: int, num_replicas: int) -> slice:
    """The rows of a global batch's augmentation draws that belong to ``rank`` (see ``EpochSampler``)."""
    return slice(rank, global_batch, num_replicas)
