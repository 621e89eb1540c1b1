"""A set made by ``python -m clipmem.prepare``: CsvSource plus a clear "prepare it first" error and
per-pair attributes from pairs.csv columns (so mis-captions can be injected into real data)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from clipmem.data.sources.base import SourceFeatures
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError


class PreparedCsvSource:
    """``CsvSource`` over ``<out>/pairs.csv`` of a prepared set (``data.source`` of the real-data presets).

    Args:
        prepared: the set's name in ``python -m clipmem.prepare`` (used in the error when the file is missing).
        path: its pairs.csv.
        attribute_keys: pairs.csv columns that become ``ImageTextTable.attributes``. Injected mis-captions
            (``data.miscaption.fraction``) then only move a caption to a pair that differs in every one of
            them, e.g. ``[category, title]``: another category and another title, so it cannot describe the image.
        **csv_kwargs: the other ``CsvSource`` arguments (sep, image_key, caption_keys, resolution, ...).
    """

    def __init__(self, prepared: str, path: str, attribute_keys: list[str] | None = None, **csv_kwargs: Any) -> None:
        from clipmem.prepare import SETS

        if prepared not in SETS:
            raise ConfigError(f"data.source.prepared must be one of {sorted(SETS)}, got {prepared!r}")
        self.prepared = prepared
        self.path = str(path)
        self.attribute_keys = list(attribute_keys or [])
        self.csv_kwargs = dict(csv_kwargs)

    features: ClassVar[SourceFeatures] = SourceFeatures(decodes_files=True, csv_rows=True, image_locations=True)

    @property
    def resolution(self) -> int:
        """Side in px of the cached images (the CsvSource argument)."""
        return int(self.csv_kwargs.get("resolution", 64))

    @property
    def cache_dir(self) -> str | None:
        """The folder of the decoded images and a frozen image tower's features (the CsvSource argument)."""
        return self.csv_kwargs.get("cache_dir")

    def __repr__(self) -> str:
        return f"PreparedCsvSource(prepared={self.prepared!r}, path={self.path!r})"

    def check(self) -> Path:
        """The pairs.csv path; ConfigError with the exact prepare command when it does not exist."""
        from clipmem.prepare import prepare_command

        path = Path(self.path).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"{path} not found: prepare the {self.prepared} set first with "
                f"`{prepare_command(self.prepared, str(path.parent))}`"
            )
        return path

    def csv_source(self):
        """The ``CsvSource`` this set reads (its pairs.csv with the preset's columns)."""
        from clipmem.data.sources.csv_source import CsvSource

        return CsvSource(path=str(self.check()), **self.csv_kwargs)

    def rows_by_id(self):
        """As ``CsvSource.rows_by_id``."""
        return self.csv_source().rows_by_id()

    def image_locations(self) -> dict[int, str]:
        """As ``CsvSource.image_locations``."""
        return self.csv_source().image_locations()

    def delimiter(self) -> str:
        """The separator of pairs.csv (given, or detected from its header)."""
        return self.csv_source().delimiter()

    def line_end(self) -> str:
        """As ``CsvSource.line_end``."""
        return self.csv_source().line_end()

    def load(self) -> ImageTextTable:
        from clipmem.data.sources.csv_source import CsvSource

        path = self.check()
        table = CsvSource(path=str(path), **self.csv_kwargs).load()
        if not self.attribute_keys:
            return table
        return replace(table, attributes=self._attributes(path, table))

    def _attributes(self, path: Path, table: ImageTextTable) -> dict[str, np.ndarray]:
        """Integer codes (N,) per attribute column, aligned with the table's rows (by sample id)."""
        from clipmem.data.sources.records import key_to_id

        sep = self.delimiter()
        id_key = self.csv_kwargs.get("id_key")
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=sep)
            missing = [k for k in self.attribute_keys if k not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"{path}: no column(s) {missing} (data.source.attribute_keys); "
                                  f"the file has {reader.fieldnames}")
            by_id: dict[int, dict] = {}
            for index, row in enumerate(reader):  # the first row of an id, as CsvSource keeps it
                by_id.setdefault(index if id_key is None else key_to_id((row.get(id_key) or "").strip()), row)
        rows = [by_id[int(i)] for i in table.sample_ids.tolist()]
        out = {}
        for key in self.attribute_keys:
            values = [(row.get(key) or "").strip().lower() for row in rows]
            _, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
            out[key] = codes.astype(np.int64)
        return out
