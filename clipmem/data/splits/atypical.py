"""Inject atypical samples: chosen pairs of a split re-rendered in a rare style (ground truth for the
memorization of atypical images, docs/paradigms.md).

The style (``synthetic.ATYPICAL_STYLES``) changes how an image looks, not what it shows: its captions and
label stay correct. Chosen pairs are never mis-captioned ones, so "atypical", "mis-captioned" and "clean"
are three disjoint groups.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError

ATYPICAL_SALT = 0xA7E  # apart from the split's and the mis-captions' draws


def check_renderer(source: Any, fraction: float) -> None:
    """Atypical samples need a source that can render them (``render_atypical``: the synthetic data)."""
    if fraction > 0 and not callable(getattr(source, "render_atypical", None)):
        raise ConfigError(f"data.atypical.fraction={fraction} needs a source that renders atypical samples "
                          f"(data=synthetic); {type(source).__name__} cannot: set data.atypical.fraction=0")


def inject_atypical(table: ImageTextTable, split_ids: list[int], fraction: float, seed: int, stream: int,
                    render: Any) -> ImageTextTable:
    """Re-render ``round(fraction * |split_ids|)`` pairs of one split, drawn from ``(seed, stream)`` among those
    not mis-captioned, with ``render(ids) -> uint8 images`` ((n, 3, H, W), or (n, V, 3, H, W) for tables with
    views). Returns a new table with ``atypical`` set on the chosen pairs; the input is left as it was."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"data.atypical.fraction must be in [0, 1], got {fraction}")
    count = int(round(fraction * len(split_ids)))
    if count == 0:
        return table
    ids = np.asarray(split_ids, dtype=np.int64)
    free = ids[~table.miscaptioned[table.positions(ids)].numpy()]
    if count > len(free):
        raise ConfigError(f"data.atypical.fraction={fraction} asks for {count} atypical pairs but only {len(free)} "
                          "of the split are not mis-captioned; lower it")
    chosen = np.sort(np.random.default_rng([int(seed), ATYPICAL_SALT, int(stream)]).choice(free, count, replace=False))
    pos = table.positions(chosen)
    rendered = render(chosen.tolist())
    flags = table.atypical.clone()
    flags[pos] = True
    if table.views is None:
        images = table.images.clone()
        images[pos] = rendered
        return dataclasses.replace(table, images=images, atypical=flags)
    views = table.views.clone()
    views[pos] = rendered
    return dataclasses.replace(table, images=views[:, 0], views=views, atypical=flags)
