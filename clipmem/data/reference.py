"""Trusted reference pairs (``data.reference_path``): trained on by every model, never scored or audited.

A curator who has pairs known to be right (checked by hand, or from a trusted set) adds them to every model's
training data: the models learn more from them while the audit ranks only the pairs under audit (docs/audit.md,
"Reference pairs"). The reference CSV is read by the same source as ``data.source`` (same columns, separator and
resolution) with its own path; its pairs join S_S, so every model of every design trains on them.

Reference pairs get the ids −1, −2, … (in file order, after skipped rows are left out): they can never collide
with the audited ids, which are row indices or 63-bit key hashes, both ≥ 0.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clipmem.data.sources.base import features_of
from clipmem.data.splits.manifest import SplitManifest
from clipmem.data.splits.near_duplicates import overlap
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError

log = logging.getLogger(__name__)
REFERENCE_KEY_PREFIX = "reference:"


def check_reference_source(source: Any) -> None:
    """Refuse reference pairs for a source that does not read a CSV into memory (the reference is read like it).

    Raises:
        ConfigError: ``source`` is not a CSV source, or it streams.
    """
    if not features_of(source).csv_rows or getattr(source, "streaming", False):
        raise ConfigError(f"data.reference_path needs a CSV source read into memory (data=csv); "
                          f"{type(source).__name__} is not one")


def reference_source(source: Any, path: str) -> Any:
    """A ``CsvSource`` with the settings of ``source`` (a ``CsvSource``, or a prepared set's, without its
    attributes: mis-captions are never injected into reference pairs) reading ``path``.

    Raises:
        ConfigError: the source does not read a CSV, or ``path`` does not exist.
    """
    check_reference_source(source)
    if not Path(path).expanduser().is_file():
        raise ConfigError(f"data.reference_path: {path} not found (a CSV of trusted pairs with the columns of "
                          "data.source)")
    csv_source = source if dataclasses.is_dataclass(source) else source.csv_source()
    return dataclasses.replace(csv_source, path=str(path))


def check_reference_families(reference_path: str | None, families: dict[str, Any]) -> None:
    """Reference pairs carry no labels: only the CLIP family trains with them.

    Raises:
        ConfigError: ``data.reference_path`` is set and a family other than CLIP is configured.
    """
    if reference_path is not None and set(families) != {"clip"}:
        raise ConfigError(f"data.reference_path adds pairs without labels, which only the CLIP family can train on; "
                          f"families are {sorted(families)}")


def _reference_keys(table: ImageTextTable) -> list[str]:
    return [f"{REFERENCE_KEY_PREFIX}{k}" for k in (table.keys or [str(i) for i in table.sample_ids.tolist()])]


def join_reference(table: ImageTextTable, reference: ImageTextTable) -> ImageTextTable:
    """``table`` followed by the ``reference`` pairs under the ids −1 … −M (keys ``reference:<key or row>``).

    The reference pairs carry no labels (the audited pairs' labels are kept, theirs are −1: a family that trains on
    labels is refused with a reference) and no attributes (mis-captions are never injected into them).

    Raises:
        ConfigError: the two sources cache images at different sizes.
    """
    if reference.images.shape[1:] != table.images.shape[1:]:
        raise ConfigError(f"data.reference_path: its images are {tuple(reference.images.shape[1:])}, the audited "
                          f"pairs' {tuple(table.images.shape[1:])}")
    m = len(reference)
    ids = -torch.arange(1, m + 1, dtype=torch.int64)
    keys = None if table.keys is None and reference.keys is None else (
        [*(table.keys or [str(i) for i in table.sample_ids.tolist()]), *_reference_keys(reference)])
    labels = None if table.labels is None else torch.cat([table.labels, torch.full((m,), -1, dtype=torch.int64)])
    attributes = {k: np.concatenate([v, np.full(m, -1, dtype=v.dtype)]) for k, v in table.attributes.items()}
    skipped = [*table.skipped,
               *({**r, "source": f"reference {r.get('source', '')}".strip()} for r in reference.skipped)]
    counts = {**table.counts, "reference_pairs": m}
    return dataclasses.replace(
        table, sample_ids=torch.cat([table.sample_ids, ids]), images=torch.cat([table.images, reference.images]),
        captions=[*table.captions, *reference.captions], labels=labels, attributes=attributes,
        miscaptioned=torch.cat([table.miscaptioned, torch.zeros(m, dtype=torch.bool)]),
        mislabeled=torch.cat([table.mislabeled, torch.zeros(m, dtype=torch.bool)]),
        atypical=torch.cat([table.atypical, torch.zeros(m, dtype=torch.bool)]),
        caption_source=torch.cat([table.caption_source, ids]), skipped=skipped, keys=keys, views=None,
        counts=counts)


def add_reference(manifest: SplitManifest, table: ImageTextTable) -> SplitManifest:
    """``manifest`` with every reference pair of ``table`` (negative ids) added to S_S."""
    return dataclasses.replace(manifest, shared=manifest.shared + reference_ids(table))


def reference_ids(table: ImageTextTable) -> tuple[int, ...]:
    """The ids of the reference pairs in ``table`` (the negative ones, ``join_reference``)."""
    return tuple(int(i) for i in table.sample_ids.tolist() if i < 0)


def reference_overlap(data: Any, ids: tuple[int, ...]) -> list[str]:
    """Per pair of ``ids``: ``exact`` or ``near`` where a reference pair of ``data`` (an ``ExperimentData``) shows
    the same image, else ``""`` (``near_duplicates.overlap``)."""
    reference = reference_ids(data.table)
    if not reference:
        return [""] * len(ids)
    return overlap(data.hashes_of(ids), data.hashes_of(reference))
