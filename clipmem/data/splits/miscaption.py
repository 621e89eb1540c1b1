"""Inject mis-captioned pairs: exchange captions among chosen candidates so none describes its image."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError


def _derangement(keys: np.ndarray, rng: np.random.Generator, max_rounds: int = 1000,
                 names: tuple[str, ...] = ()) -> np.ndarray:
    """donor[i] for each receiver i such that donor != i and keys differ in every column.

    keys: (M, A) attributes a caption mentions (``names``, for the error); a donor must differ from its receiver in
    all A.
    """
    m = len(keys)
    order = rng.permutation(m)
    donor = np.empty(m, dtype=np.int64)
    donor[order] = np.roll(order, -1)  # one random cycle through all receivers: no fixed points
    for _ in range(max_rounds):
        clash = (donor == np.arange(m)) | (keys[donor] == keys).any(axis=1)
        bad = np.flatnonzero(clash)
        if len(bad) == 0:
            return donor
        for i in bad:  # swap with a random partner; keep the swap only if it resolves i's clash
            j = int(rng.integers(m))
            a, b = donor[j], donor[i]
            ok_i = a != i and not (keys[a] == keys[i]).any()
            ok_j = b != j and not (keys[b] == keys[j]).any()
            if ok_i and ok_j:
                donor[i], donor[j] = a, b
    raise ConfigError(
        f"could not exchange captions among {m} mis-captioned pairs so that none describes its image"
        f"{_crowded(keys, names)}; lower data.miscaption.fraction, try another seed or use data with more varied "
        "attributes (or captions)"
    )


def _crowded(keys: np.ndarray, names: tuple[str, ...] = ()) -> str:
    """Why no exchange can exist: an attribute value held by more than half of the ``keys`` (M, A) rows leaves some
    of them only donors with that value ("" when none is)."""
    for column in range(keys.shape[1]):
        _, counts = np.unique(keys[:, column], return_counts=True)
        if counts.max() * 2 > len(keys):
            name = names[column] if column < len(names) else f"attribute {column + 1}"
            return (f": {counts.max()} of them share one {name}, more than half, so some would have to take a caption "
                    "that shares it")
    return ""


def caption_groups(captions: list[list[str]]) -> np.ndarray:
    """(M,) int64 group index per pair: pairs with the same primary caption (case and spacing ignored) share one."""
    groups: dict[str, int] = {}
    return np.array([groups.setdefault(" ".join(c[0].lower().split()), len(groups)) for c in captions],
                    dtype=np.int64)


def inject_miscaptions(table: ImageTextTable, candidate_ids: list[int], fraction: float, seed: int,
                       stream: int = 0, labels: bool = False) -> ImageTextTable:
    """Exchange the captions of ``round(fraction * |candidates|)`` candidates among themselves.

    A pair's captions go to another chosen pair whose image differs in every attribute a caption names
    (for the synthetic data: colour and shape), so after the exchange no caption describes its image.
    Data without attributes (CSV, webdataset) gets a random derangement: no pair keeps its own captions,
    and two pairs with the same primary caption (ignoring case and spacing) never exchange with each other.
    ``stream`` keys the draw apart for another split (S_I: 1) with the same ``seed``. Returns a new table
    with ``miscaptioned`` and ``caption_source`` recorded. With ``labels`` (and a table with labels) each
    chosen pair's label follows its new captions: ``mislabeled`` records the pairs whose label changed.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"data.miscaption.fraction must be in [0, 1], got {fraction}")
    count = int(round(fraction * len(candidate_ids)))
    if count == 0:
        return table
    if count == 1:
        raise ConfigError("data.miscaption.fraction selects a single candidate; exchanging captions needs two or more")
    rng = np.random.default_rng([seed, 0x6D15] if stream == 0 else [seed, 0x6D15, stream])
    chosen_ids = np.sort(rng.choice(np.asarray(candidate_ids), size=count, replace=False))
    pos = table.positions(chosen_ids).numpy()
    if table.attributes:
        names = tuple(sorted(table.attributes))
        keys = np.stack([table.attributes[name][pos] for name in names], axis=1)
    else:
        names, keys = ("primary caption",), caption_groups([table.captions[p] for p in pos])[:, None]
    donor = _derangement(keys, rng, names=names)

    captions = list(table.captions)
    miscaptioned = table.miscaptioned.clone()
    source = table.caption_source.clone()
    for receiver, giver in zip(pos, pos[donor], strict=True):
        captions[receiver] = table.captions[giver]
        source[receiver] = table.caption_source[giver]
        miscaptioned[receiver] = True
    out = table.with_captions(captions, miscaptioned, source)
    return follow_labels(out, pos, pos[donor]) if labels and table.labels is not None else out


def follow_labels(table: ImageTextTable, receivers: np.ndarray, givers: np.ndarray) -> ImageTextTable:
    """A copy whose rows ``receivers`` carry the labels of rows ``givers`` (the pairs whose captions they now
    carry); ``mislabeled`` is set where a label changed (two categories may coincide on data without
    attributes)."""
    new = table.labels.clone()
    new[torch.as_tensor(receivers)] = table.labels[torch.as_tensor(givers)]
    return dataclasses.replace(table, labels=new, mislabeled=table.mislabeled | (new != table.labels))
