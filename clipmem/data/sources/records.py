"""Helpers the file-based sources share: keys to sample ids, caption parsing, and table assembly."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from clipmem.data.sources.bad_samples import BadSamples, check_policy
from clipmem.data.sources.images import stack_images
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError

HASH_BASE = 2**62  # numeric keys below this are used as ids; other keys hash into [2^62, 2^63)


def key_to_id(key: str) -> int:
    """The sample id of a string key: the number itself for a decimal key below 2^62 ("000123" -> 123),
    else a stable 63-bit hash in [2^62, 2^63) (sha256 of the UTF-8 key), which never meets a numeric id.

    Sources keep the key itself in ``ImageTextTable.keys`` and the run writes ``sample_keys.csv``;
    two keys with the same id (e.g. "12" and "012") are reported as duplicate ids, never merged.
    """
    if key.isascii() and key.isdigit() and int(key) < HASH_BASE:
        return int(key)
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return HASH_BASE + int.from_bytes(digest[:8], "big") % HASH_BASE


def split_captions(fields: Sequence[str | None], caption_sep: str | None) -> list[str]:
    """Captions from one or more fields, each optionally split at ``caption_sep``, in order.

    Whitespace is stripped; empty captions (nothing ``visible``) and exact repeats of an earlier caption are left
    out.
    """
    out: list[str] = []
    for value in fields:
        if value is None:
            continue
        parts = value.split(caption_sep) if caption_sep else [value]
        out.extend(text for text in (p.strip() for p in parts) if visible(text) and text not in out)
    return out


def visible(text: str) -> bool:
    """Whether ``text`` holds a character that shows: zero-width spaces, joiners and other format or separator
    characters alone make an empty caption."""
    return any(unicodedata.category(c)[0] not in ("C", "Z") for c in text)


@dataclass(frozen=True, kw_only=True)
class DecodedFileFields:
    """The fields every source that decodes image files shares (CSV, Hugging Face, webdataset; each documents
    them in its own docstring): ``caption_sep``, the cache ``resolution`` in px, ``on_bad_sample``, decoding
    ``num_threads`` and the decoded-image ``cache_dir``. Checked by ``check_file_source``."""

    caption_sep: str | None = None
    resolution: int = 64
    on_bad_sample: str = "error"
    num_threads: int | None = None
    cache_dir: str | None = None


def check_file_source(on_bad_sample: str, resolution: int, caption_sep: str | None) -> None:
    """The options every file-based source (CSV, webdataset, Hugging Face) shares, checked in one line each."""
    check_policy(on_bad_sample)
    if resolution < 8:
        raise ConfigError(f"data.source.resolution must be ≥ 8 px, got {resolution}")
    if caption_sep == "":
        raise ConfigError("data.source.caption_sep must be a non-empty string or null")


class DuplicateFinder:
    """Finds exact duplicate pairs (same image content and same captions) as a source reads them.

    ``check`` keeps the first of a group and reports the others through ``bad`` (``error``: one line naming
    both places; ``skip``: recorded and left out). The same image with other captions is legitimate data
    and only counted (``same_image_other_caption``).
    """

    def __init__(self, bad: BadSamples) -> None:
        self.bad = bad
        self.first_pair: dict[bytes, str] = {}
        self.image_captions: dict[bytes, str] = {}
        self.same_image_other_caption = 0

    def check(self, image: bytes, captions: list[str], file, row, sample_id: int, where: str) -> bool:
        """True to keep the sample whose image content is ``image`` (bytes or pixels) at ``where``."""
        image_key = hashlib.sha256(image).digest()
        text = "\x1f".join(captions)
        pair_key = hashlib.sha256(image_key + text.encode("utf-8")).digest()
        if pair_key in self.first_pair:
            self.bad.report(file, row, f"exact duplicate of {self.first_pair[pair_key]} (same image and captions)",
                            sample_id=sample_id, location=where)
            return False
        self.first_pair[pair_key] = where
        if image_key in self.image_captions and self.image_captions[image_key] != text:
            self.same_image_other_caption += 1
        self.image_captions.setdefault(image_key, text)
        return True


class ScannedRows(Protocol):
    """The good rows a source's scan found, as parallel lists: sample ids, row keys (the id column's text or a
    shard key) and each row's captions."""

    ids: list[int]
    keys: list[str]
    captions: list[list[str]]


def assemble_table(rows: ScannedRows, decoded: Sequence[np.ndarray], keep: Sequence[int], resolution: int,
                   skipped: list[dict], counts: dict[str, int] | None = None, *, keyed: bool = True) -> ImageTextTable:
    """An ImageTextTable of the rows at positions ``keep`` of ``rows`` (their decoded uint8 (3, R, R) images in
    ``decoded``, parallel to ``rows``), keeping the skipped-sample records and the scan's ``counts``; the rows'
    keys are kept when ``keyed``."""
    return ImageTextTable(
        sample_ids=torch.as_tensor([rows.ids[i] for i in keep], dtype=torch.int64),
        images=stack_images([decoded[i] for i in keep], resolution),
        captions=[list(rows.captions[i]) for i in keep],
        skipped=list(skipped),
        keys=[rows.keys[i] for i in keep] if keyed else None,
        counts=dict(counts or {}),
    )
