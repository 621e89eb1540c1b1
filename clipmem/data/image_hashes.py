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
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

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


def difference_hashes(images: torch.Tensor) -> torch.Tensor:
    """(N,) int64 dHash of uint8 images (N, 3, H, W): grey 9×8 thumbnail, one bit per horizontal neighbour pair
    (left brighter than right)."""
    grey = images.float().mean(1, keepdim=True)
    small = F.interpolate(grey, size=(8, 9), mode="area").squeeze(1)  # (N, 8, 9)
    bits = (small[:, :, :-1] > small[:, :, 1:]).reshape(len(images), 64).long()
    weights = torch.tensor([1 << i for i in range(63)] + [-(1 << 63)], dtype=torch.int64)  # two's complement
    return (bits * weights).sum(1)


def image_hashes(images: torch.Tensor) -> ImageHashes:
    return ImageHashes(exact_hashes(images), difference_hashes(images))


def hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Bit distance between every dHash of ``a`` (N,) and ``b`` (M,): (N, M) int64."""
    x = a.unsqueeze(1) ^ b.unsqueeze(0)
    count = torch.zeros_like(x)
    for shift in range(64):
        count += (x >> shift) & 1
    return count


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
