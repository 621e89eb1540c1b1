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

from clipmem.data.splits.fingerprint import difference_hashes
from clipmem.io import atomic_write

NEAR_BITS = 6  # dHashes at most this many bits apart are candidate near-duplicates (of 64) ...
THUMB_CORRELATION = 0.95  # ... confirmed when their 16×16 colour thumbnails correlate at least this much
THUMB_SIDE = 16
GROUP_CAP = 20  # a near-duplicate group never grows beyond this many images (see duplicate_groups)
HASHES_FILE = "train_images.safetensors"


@dataclass(frozen=True)
class ImageHashes:
    """``exact`` (N,) int64: the first 8 bytes of the sha256 of each image's pixels; ``near`` (N,) int64: its dHash;
    ``thumb`` (N, 3·16·16) uint8: a 16×16 colour thumbnail that confirms a dHash match (flat drawings share dHashes
    without being copies of each other)."""

    exact: torch.Tensor
    near: torch.Tensor
    thumb: torch.Tensor

    def __len__(self) -> int:
        return len(self.exact)


def exact_hashes(images: torch.Tensor) -> torch.Tensor:
    """(N,) int64 from uint8 images (N, 3, H, W): equal for identical pixels (64 bits of their sha256)."""
    out = [int.from_bytes(hashlib.sha256(img.contiguous().numpy().tobytes()).digest()[:8], "little", signed=True)
           for img in images]
    return torch.tensor(out, dtype=torch.int64)


def thumbnails(images: torch.Tensor) -> torch.Tensor:
    """(N, 3·16·16) uint8 area-averaged colour thumbnails of uint8 images (N, 3, H, W)."""
    small = torch.nn.functional.interpolate(images.float(), size=(THUMB_SIDE, THUMB_SIDE), mode="area")
    return small.round().clamp(0, 255).to(torch.uint8).flatten(1)


def image_hashes(images: torch.Tensor) -> ImageHashes:
    return ImageHashes(exact_hashes(images), difference_hashes(images), thumbnails(images))


def thumbnail_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) Pearson correlation of matching rows of thumbnails ``a`` and ``b`` (N, 768) over their pixels (on a white
    page only the ink counts); two flat thumbnails count 1 when equal in colour (within 1 of 255), else 0."""
    x, y = a.float() - a.float().mean(1, keepdim=True), b.float() - b.float().mean(1, keepdim=True)
    norms = x.norm(dim=1) * y.norm(dim=1)
    same_flat = ((a.float() - b.float()).abs().mean(1) <= 1.0).float()
    return torch.where(norms == 0, same_flat, (x * y).sum(1) / norms.clamp(min=1e-9))


def close_thumbnails(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the thumbnails correlate at least ``THUMB_CORRELATION``."""
    return thumbnail_correlation(a, b) >= THUMB_CORRELATION


_POPCOUNT = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int64)


def hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Bit distance between every dHash of ``a`` (N,) and ``b`` (M,): (N, M) int64 (a popcount per byte)."""
    x = (a.unsqueeze(1) ^ b.unsqueeze(0)).contiguous()
    return _POPCOUNT[x.view(torch.uint8).long()].view(*x.shape, 8).sum(-1)


def near_pairs(hashes: ImageHashes, near_bits: int = NEAR_BITS, chunk: int = 2048) -> list[tuple[int, int]]:
    """Positions (i, j), i < j, of images that are exact or near duplicates of each other: equal pixels, or dHashes
    within ``near_bits`` confirmed by close thumbnails."""
    found = []
    n = len(hashes)
    for start in range(0, n, chunk):
        block = hashes.near[start:start + chunk]
        for other in range(start, n, chunk):
            close = hamming(block, hashes.near[other:other + chunk]) <= near_bits
            close |= hashes.exact[start:start + chunk].unsqueeze(1) == hashes.exact[other:other + chunk].unsqueeze(0)
            rows, cols = close.nonzero(as_tuple=True)
            rows, cols = rows + start, cols + other
            keep = (rows < cols) & close_thumbnails(hashes.thumb[rows], hashes.thumb[cols])
            found += list(zip(rows[keep].tolist(), cols[keep].tolist(), strict=True))
    return found


def duplicate_groups(ids: list[int], hashes: ImageHashes, near_bits: int = NEAR_BITS,
                     largest: int = GROUP_CAP) -> tuple[tuple[int, ...], ...]:
    """Groups (≥ 2 ids, each sorted; groups sorted) of ``ids`` whose images are exact or near duplicates
    (``near_pairs``), joined closest pairs first; a join that would make a group larger than ``largest`` is left out:
    chains of faint, similar drawings would otherwise merge hundreds of different pictures into one group."""
    parent, size = list(range(len(ids))), [1] * len(ids)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = near_pairs(hashes, near_bits)
    if pairs:
        rows, cols = (torch.tensor(v) for v in zip(*pairs, strict=True))
        closeness = thumbnail_correlation(hashes.thumb[rows], hashes.thumb[cols])
        pairs = [pairs[k] for k in torch.argsort(closeness, descending=True, stable=True).tolist()]
    for i, j in pairs:
        a, b = root(i), root(j)
        if a != b and size[a] + size[b] <= largest:
            parent[a], size[b] = b, size[a] + size[b]
    members: dict[int, list[int]] = {}
    for i, sid in enumerate(ids):
        members.setdefault(root(i), []).append(int(sid))
    return tuple(sorted(tuple(sorted(g)) for g in members.values() if len(g) > 1))


def overlap(query: ImageHashes, reference: ImageHashes, near_bits: int = NEAR_BITS, chunk: int = 2048) -> list[str]:
    """Per query image: ``exact`` (its pixels are in ``reference``), ``near`` (a reference image whose dHash lies
    within ``near_bits`` bits and whose thumbnail is close) or ``""``."""
    exact = torch.isin(query.exact, reference.exact)
    near = torch.zeros(len(query), dtype=torch.bool)
    for start in range(0, len(query), chunk):
        block = query.near[start:start + chunk]
        for ref_start in range(0, len(reference), chunk):
            rows, cols = (hamming(block, reference.near[ref_start:ref_start + chunk]) <= near_bits).nonzero(
                as_tuple=True)
            confirmed = close_thumbnails(query.thumb[start + rows], reference.thumb[ref_start + cols])
            near[(start + rows)[confirmed]] = True
    return ["exact" if e else "near" if n else "" for e, n in zip(exact.tolist(), near.tolist(), strict=True)]


def save_hashes(path: Path, hashes: ImageHashes) -> None:
    tensors = {"exact": hashes.exact.contiguous(), "near": hashes.near.contiguous(), "thumb": hashes.thumb.contiguous()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))


def load_hashes(path: Path) -> ImageHashes:
    tensors = load_file(str(path))
    return ImageHashes(tensors["exact"], tensors["near"], tensors["thumb"])
