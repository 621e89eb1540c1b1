"""Image–caption pairs from a CSV/TSV file in open_clip's format (one row per image, a path and captions)."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from clipmem.data.sources.bad_samples import BadSamples
from clipmem.data.sources.base import SourceFeatures
from clipmem.data.sources.images import cached_decode_many, stat_fingerprint
from clipmem.data.sources.records import (
    DecodedFileFields,
    DuplicateFinder,
    assemble_table,
    check_file_source,
    key_to_id,
    split_captions,
)
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError

_SEP_ALIASES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}


def normalise_sep(sep: str | None, field_name: str = "data.source.sep") -> str | None:
    """The one-character delimiter; ``"\\t"`` (backslash-t, as a shell passes it) and ``tab`` mean a tab;
    None stays None (detect it from the header: ``detect_sep``)."""
    if sep is None:
        return None
    sep = _SEP_ALIASES.get(sep, sep)
    if not isinstance(sep, str) or len(sep) != 1:
        raise ConfigError(f"{field_name} must be one character (',' or '\\t' for TSV) or null to detect it, "
                          f"got {sep!r}")
    return sep


def detect_sep(path: Path, image_key: str) -> str:
    """Tab or comma, from the header line: the one whose fields include ``image_key``; if both or neither do,
    the one that occurs more often in the header (a comma on a tie). open_clip's CSV loader defaults to tab,
    most spreadsheets to comma."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = f.readline()
    except UnicodeDecodeError:
        return ","  # reading the rows reports the encoding error with its place
    fields = {sep: next(csv.reader([header], delimiter=sep), []) for sep in ("\t", ",")}
    named = [sep for sep, names in fields.items() if image_key in (n.strip() for n in names)]
    if len(named) == 1:
        return named[0]
    return "\t" if header.count("\t") > header.count(",") else ","


def line_ending(path: Path) -> str:
    """The line ending of ``path``'s first line: ``"\\r\\n"`` (Windows, the csv module's default) or ``"\\n"``."""
    with path.open("rb") as f:
        first = f.readline()
    return "\r\n" if first.endswith(b"\r\n") else "\n"


def non_utf8_place(path: Path) -> str:
    """Where the first byte sequence that is not UTF-8 sits: line (1-based, as an editor counts) and column."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        line = raw.count(b"\n", 0, err.start) + 1
        return f"line {line}, byte {err.start - line_start + 1} of that line (byte {raw[err.start]:#04x})"
    return "unknown place"


def _as_list(keys: str | list[str] | tuple[str, ...], field_name: str) -> list[str]:
    out = [keys] if isinstance(keys, str) else list(keys)
    if not out or not all(isinstance(k, str) and k for k in out):
        raise ConfigError(f"{field_name} must be a column name or a non-empty list of them, got {keys!r}")
    return out


@dataclass
class _Rows:
    """The good rows of a CSV, as parallel lists."""

    ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    captions: list[list[str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def add(self, sid: int, key: str, captions: list[str], file: Path, where: str, row: int) -> None:
        for column, value in (("ids", sid), ("keys", key), ("captions", captions), ("files", file),
                              ("where", where), ("rows", row)):
            getattr(self, column).append(value)


@dataclass(frozen=True)
class CsvSource(DecodedFileFields):
    """Pairs listed in a CSV/TSV file with a header row (open_clip's ``--csv-img-key/--csv-caption-key`` format).

    Args:
        path: the CSV/TSV file (required; None fails on ``load``). Relative image paths resolve against its folder.
        sep: field delimiter, one character (``","``; ``"\\t"`` or ``tab`` for TSV); None detects tab or comma
            from the header line (``detect_sep``).
        image_key: column holding the image path.
        caption_keys: column(s) holding captions; several columns give several captions per image, in
            this order (caption 0, the first non-empty one, is the primary caption). Empty fields are left out.
        caption_sep: if set, each caption field is also split at this string into several captions.
        id_key: column holding the sample id; None uses the 0-based data row index (header excluded).
            Decimal values are used as ids; other strings get a stable 63-bit hash (``records.key_to_id``).
        resolution: side in px of the cached uint8 images (shorter side resized, centre-cropped).
        on_bad_sample: ``error`` (raise naming file, row and reason) or ``skip`` (record and leave out).
        num_threads: decoding threads (None: up to 8, by CPU count).
        cache_dir: if set, decoded images are cached there, keyed by the CSV's content, ``resolution`` and
            every image file's path, size and modification time (``images.cached_decode_many``).
    """

    features: ClassVar[SourceFeatures] = SourceFeatures(decodes_files=True, csv_rows=True, image_locations=True)

    path: str | None = None
    sep: str | None = None
    image_key: str = "filepath"
    caption_keys: str | list[str] = "title"
    id_key: str | None = None
    _caption_list: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sep", normalise_sep(self.sep))
        object.__setattr__(self, "_caption_list", _as_list(self.caption_keys, "data.source.caption_keys"))
        check_file_source(self.on_bad_sample, self.resolution, self.caption_sep)

    def delimiter(self) -> str:
        """The separator in use: ``sep``, or the one detected from the header of ``path``."""
        return self.sep if self.sep is not None else detect_sep(self.check(), self.image_key)

    def line_end(self) -> str:
        """The line ending of ``path`` (``line_ending``): what a copy of its rows keeps."""
        return line_ending(self.check())

    def _read_rows(self, path: Path) -> tuple[list[str], list[tuple[int, dict[str, str | None]]]]:
        """Header and (line number, row dict) of every data row."""
        sep = self.delimiter()
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f, delimiter=sep)
                header = list(reader.fieldnames or [])
                rows = [(reader.line_num, row) for row in reader]
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text: {non_utf8_place(path)}; save it as UTF-8") from None
        except csv.Error as err:
            raise ConfigError(f"{path}: not a valid CSV file with sep={sep!r} ({err})") from err
        return header, rows

    def _check_columns(self, path: Path, header: list[str]) -> None:
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise ConfigError(f"{path}: the header names column(s) {repeated} more than once; which one is meant? "
                              "(rename or drop the repeats)")
        wanted = [("image_key", self.image_key)] + [("caption_keys", k) for k in self._caption_list]
        if self.id_key is not None:
            wanted.append(("id_key", self.id_key))
        for field_name, column in wanted:
            if column not in header:
                hint = ""
                if len(header) == 1 and ("\t" in header[0] or "," in header[0]):
                    hint = f"; is sep right? data.source.sep is {self.delimiter()!r}"
                raise ConfigError(
                    f"{path}: no column {column!r} (data.source.{field_name}); the file has columns {header}{hint}"
                )

    def check(self) -> Path:
        """The CSV's path; ConfigError when it is unset or does not exist."""
        if not self.path:
            raise ConfigError("data.source.path is not set: pass data.source.path=<your pairs.csv>")
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise ConfigError(f"data.source.path: no such file {str(path)!r}")
        return path

    def _pairs(self, path: Path, rows: list[tuple[int, dict[str, str | None]]], bad: BadSamples) -> _Rows:
        """The rows that name an id, a caption and an image path (others reported as bad), in file order."""
        folder, out, first_row = path.resolve().parent, _Rows(), {}
        for index, (line, row) in enumerate(rows):
            at = f"row {index} (line {line})"
            key = str(index) if self.id_key is None else (row.get(self.id_key) or "").strip()
            if not key:
                bad.report(path, index, f"empty id in column {self.id_key!r}", location=at)
                continue
            sid = key_to_id(key)
            if sid in first_row:
                bad.report(path, index, f"duplicate sample id {sid} (key {key!r}; first at row {first_row[sid]})",
                           sample_id=sid, location=at)
                continue
            first_row[sid] = index
            if row.get(None):  # csv puts fields beyond the header's under None: a separator inside an unquoted field
                bad.report(path, index, f"{len(row) - 1 + len(row[None])} fields where the header has {len(row) - 1}: "
                           f"an unquoted {self.delimiter()!r} inside a field? (quote it: \"a red, blue circle\")",
                           sample_id=sid, location=at)
                continue
            texts = split_captions([row.get(k) for k in self._caption_list], self.caption_sep)
            image = (row.get(self.image_key) or "").strip()
            if not texts:
                bad.report(path, index, f"empty caption (columns {self._caption_list})", sample_id=sid, location=at)
            elif not image:
                bad.report(path, index, f"empty image path (column {self.image_key!r})", sample_id=sid, location=at)
            else:
                out.add(sid, key, texts, folder / Path(image).expanduser(), at, index)
        return out

    def rows_by_id(self) -> tuple[list[str], dict[int, dict[str, str | None]], list[dict[str, str | None]]]:
        """(header, sample id -> its row, every data row in file order): what an audit's clean.csv copies."""
        path = self.check()
        header, rows = self._read_rows(path)
        by_id: dict[int, dict[str, str | None]] = {}
        for index, (_, row) in enumerate(rows):
            key = str(index) if self.id_key is None else (row.get(self.id_key) or "").strip()
            if key:
                by_id.setdefault(key_to_id(key), row)
        return header, by_id, [row for _, row in rows]

    def image_locations(self) -> dict[int, str]:
        """Sample id -> its image path as the CSV writes it (the ``image_key`` column): what audit.csv reports."""
        _, by_id, _ = self.rows_by_id()
        return {sid: str(row.get(self.image_key) or "") for sid, row in by_id.items()}

    def load(self) -> ImageTextTable:
        path = self.check()
        header, rows = self._read_rows(path)
        self._check_columns(path, header)
        if not rows:
            raise ConfigError(f"{path}: the header is there but no data row follows it: nothing to score")
        bad = BadSamples(self.on_bad_sample, "data")
        pairs = self._pairs(path, rows, bad)
        fingerprint = stat_fingerprint(pairs.files) + hashlib.sha256(path.read_bytes()).hexdigest()
        decoded = cached_decode_many(pairs.files, self.resolution, self.cache_dir, fingerprint, self.num_threads,
                                     desc=f"decoding {path.name}")
        keep, duplicates = [], DuplicateFinder(bad)
        for i, result in enumerate(decoded):
            if isinstance(result, str):
                bad.report(path, pairs.rows[i], f"{result}: {pairs.files[i]}", sample_id=pairs.ids[i],
                           location=pairs.where[i])
            elif duplicates.check(result.tobytes(), pairs.captions[i], path, pairs.rows[i], pairs.ids[i],
                                  pairs.where[i]):
                keep.append(i)
        bad.warn()
        return assemble_table(pairs, decoded, keep, self.resolution, bad.records,
                              {"same_image_other_caption": duplicates.same_image_other_caption},
                              keyed=self.id_key is not None)
