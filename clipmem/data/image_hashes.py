"""Image hashes for overlap checks: an exact hash of the decoded pixels and a 64-bit difference hash (dHash) that
near-duplicates share up to a few bits (rescaled, recompressed or slightly edited copies of one picture).

Used to tell whether a base model's training images overlap the pairs an audit scores (docs/audit.md) and to keep
near-duplicate images together when data is partitioned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from clipmem.data.fingerprint import difference_hashes
from clipmem.io import atomic_write

NEAR_BITS = 6  # dHashes at most this many bits apart are near-duplicates (of 64)
HASHES_FILE = "train_images.safetensors"


@dataclass(frozen=True)
class ImageHashes:
    """``exact`` (N,) int64: the first 8 bytes of the sha256 of each image's pixels; ``near`` (N,) int64: its dHash."""

    exact: torch.Tensor
    near: torch.Tensor

    def __len__(self) -> int:
        return len(self.exact)


def exact_hashes(images: torch.Tensor) -> torch.Tensor:
    """(N,) int64 from uint8 images (N, 3, H, W): equal for identical pixels (64 bits of their sha256)."""
    out = [int.from_bytes(hashlib.sha256(img.contiguous().numpy().tobytes()).digest()[:8], "little", signed=True)
           for img in images]
    return torch.tensor(out, dtype=torch.int64)


def image_hashes(images: torch.Tensor) -> ImageHashes:
    return ImageHashes(exact_hashes(images), difference_hashes(images))


_POPCOUNT = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int64)


def hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Bit distance between every dHash of ``a`` (N,) and ``b`` (M,): (N, M) int64 (a popcount per byte)."""
    x = (a.unsqueeze(1) ^ b.unsqueeze(0)).contiguous()
    return _POPCOUNT[x.view(torch.uint8).long()].view(*x.shape, 8).sum(-1)


def near_pairs(hashes: ImageHashes, near_bits: int = NEAR_BITS, chunk: int = 2048) -> list[tuple[int, int]]:
    """Positions (i, j), i < j, of images that are exact or near duplicates of each other."""
    found = []
    n = len(hashes)
    for start in range(0, n, chunk):
        block = hashes.near[start:start + chunk]
        for other in range(start, n, chunk):
            close = hamming(block, hashes.near[other:other + chunk]) <= near_bits
            close |= hashes.exact[start:start + chunk].unsqueeze(1) == hashes.exact[other:other + chunk].unsqueeze(0)
            rows, cols = close.nonzero(as_tuple=True)
            found += [(start + i, other + j) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
                      if start + i < other + j]
    return found


def duplicate_groups(ids: list[int], hashes: ImageHashes, near_bits: int = NEAR_BITS) -> tuple[tuple[int, ...], ...]:
    """Groups (≥ 2 ids, each sorted; groups sorted) of ``ids`` whose images are exact or near duplicates, joined
    transitively (a union-find over ``near_pairs``)."""
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in near_pairs(hashes, near_bits):
        parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i, sid in enumerate(ids):
        members.setdefault(root(i), []).append(int(sid))
    return tuple(sorted(tuple(sorted(g)) for g in members.values() if len(g) > 1))


def overlap(query: ImageHashes, reference: ImageHashes, near_bits: int = NEAR_BITS, chunk: int = 2048) -> list[str]:
    """Per query image: ``exact`` (its pixels are in ``reference``), ``near`` (a reference dHash within
    ``near_bits`` bits) or ``""``."""
    exact = torch.isin(query.exact, reference.exact)
    near = torch.zeros(len(query), dtype=torch.bool)
    for start in range(0, len(query), chunk):
        block = query.near[start:start + chunk]
        for ref_start in range(0, len(reference), chunk):
            close = hamming(block, reference.near[ref_start:ref_start + chunk]) <= near_bits
            near[start:start + chunk] |= close.any(1)
    return ["exact" if e else "near" if n else "" for e, n in zip(exact.tolist(), near.tolist(), strict=True)]


def save_hashes(path: Path, hashes: ImageHashes) -> None:
    atomic_write(path, lambda tmp: save_file({"exact": hashes.exact.contiguous(), "near": hashes.near.contiguous()},
                                             str(tmp)))


def load_hashes(path: Path) -> ImageHashes:
    tensors = load_file(str(path))
    return ImageHashes(tensors["exact"], tensors["near"])
