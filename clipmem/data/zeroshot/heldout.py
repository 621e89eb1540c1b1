"""A probe set made of the run's own held-out pairs (S_E) and a label column of their CSV: utility that means
something on real data with categories (``zeroshot=heldout``; docs/own-data.md, "Zero-shot sets").

The images never train any model of a pair design (S_E), so a linear probe and zero-shot classification on them
measure what f and g learned about unseen pictures of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from clipmem.data.sources.base import SourceFeatures, ZeroShotSet, features_of
from clipmem.data.splits.manifest import SplitManifest
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError

TEMPLATES = ("a drawing of {}.", "a picture of {}.", "{}.")


@dataclass(frozen=True)
class HeldOutProbe:
    """``label_key``: the CSV column whose values are the classes (Open Clip Art's ``category``); ``split``: the
    split whose pairs are probed (``extra``, S_E); ``templates``: zero-shot prompts with one ``{}``."""

    name: str = "heldout"
    label_key: str = "category"
    split: str = "extra"
    templates: list[str] = field(default_factory=lambda: list(TEMPLATES))
    features: ClassVar[SourceFeatures] = SourceFeatures(builds_from_data=True)  # built by build_data, not loaded

    def build(self, table: ImageTextTable, manifest: SplitManifest, source: Any) -> ZeroShotSet:
        """The probe set: the images of ``split`` and each one's ``label_key`` value from ``source``'s rows."""
        if not features_of(source).csv_rows:
            raise ConfigError(f"data.zeroshot.{self.name}: a held-out probe reads the label column of a CSV "
                              f"(data=csv); {type(source).__name__} has no rows")
        ids = manifest.kept(self.split) if self.split != "extra" else manifest.extra
        if not ids:
            raise ConfigError(f"data.zeroshot.{self.name}: split {self.split!r} is empty (data.splits.{self.split})")
        header, by_id, _ = source.rows_by_id()
        if self.label_key not in header:
            raise ConfigError(f"data.zeroshot.{self.name}.label_key: the CSV has no column {self.label_key!r}; "
                              f"it has {header}")
        values = [str(by_id[sid].get(self.label_key) or "").strip() for sid in ids]
        classnames = sorted(set(values))
        labels = torch.tensor([classnames.index(v) for v in values], dtype=torch.int64)
        images = table.images[table.positions(list(ids))]
        return ZeroShotSet(self.name, images, labels, classnames, list(self.templates))
