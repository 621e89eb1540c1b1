"""Content fingerprints of the splits: what the models were trained and scored on, pixel for pixel.

A split's fingerprint is a sha256 over its samples in id order: the sample id, the decoded uint8 pixels
(every view where a pair has several) and the captions after mis-caption injection. Streamed splits
(their images never decoded) are covered by a digest of the shards' image bytes and captions instead.
"""

from __future__ import annotations

import hashlib

import torch

from clipmem.data.splits.manifest import SPLIT_NAMES, SplitManifest
from clipmem.data.table import ImageTextTable

CAPTION_SEP = "\x1f"  # between a pair's captions (never part of a caption)
PAIR_SEP = "\x1e"  # between pairs


def split_fingerprint(table: ImageTextTable, ids: tuple[int, ...]) -> str:
    """sha256 of the ids, pixels and captions of ``ids`` (in the given order)."""
    positions = table.positions(list(ids))
    digest = hashlib.sha256()
    digest.update(torch.as_tensor(ids, dtype=torch.int64).numpy().tobytes())
    pixels = table.images if table.views is None else table.views
    digest.update(pixels[positions].contiguous().numpy().tobytes())
    captions = PAIR_SEP.join(CAPTION_SEP.join(table.captions[int(p)]) for p in positions)
    digest.update(captions.encode("utf-8"))
    return digest.hexdigest()


def content_fingerprints(table: ImageTextTable, manifest: SplitManifest, streamed_digest: str | None = None
                         ) -> dict[str, str]:
    """Split name -> fingerprint for every split the table holds; ``streamed_digest`` stands for the rest."""
    held = set(table.sample_ids.tolist())
    out = {name: split_fingerprint(table, getattr(manifest, name)) for name in SPLIT_NAMES
           if set(getattr(manifest, name)) <= held}
    if streamed_digest is not None:
        out["shards"] = streamed_digest
    return out


def difference_hashes(images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """64-bit difference hashes (N,) int64 of uint8 images (N, 3, H, W): grayscale, shrunk to 8×9, one bit
    per pair of horizontal neighbours (left brighter than right). Near-identical images share a hash."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    powers = (2 ** torch.arange(63, dtype=torch.int64)).view(1, 63)
    out = []
    for start in range(0, len(images), chunk):
        gray = (images[start : start + chunk].float() * weights).sum(1, keepdim=True)
        small = torch.nn.functional.interpolate(gray, size=(8, 9), mode="area").squeeze(1)
        bits = (small[:, :, :-1] > small[:, :, 1:]).flatten(1).to(torch.int64)  # (n, 64)
        out.append((bits[:, :63] * powers).sum(1) - bits[:, 63] * (2 ** 63 - 1) - bits[:, 63])
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def near_duplicate_count(images: torch.Tensor) -> int:
    """How many images share their difference hash with an earlier image but differ in pixels (N images)."""
    hashes = difference_hashes(images).tolist()
    first: dict[int, int] = {}
    count = 0
    for index, value in enumerate(hashes):
        if value in first and not torch.equal(images[first[value]], images[index]):
            count += 1
        first.setdefault(value, index)
    return count
