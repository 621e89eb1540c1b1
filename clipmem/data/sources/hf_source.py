"""Image–caption pairs from a Hugging Face ``datasets`` dataset: a folder written by ``save_to_disk``, local
parquet or arrow files, or a hub name (online; offline it fails in one line that says what to do).

Images go through the same PIL decode path as every other source (``images.decode_image``), so the same
pictures give the same pixels as from a CSV or from shards; datasets' own image decoding is switched off.
"""

from __future__ import annotations

import glob
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from clipmem.data.sources.bad_samples import BadSamples
from clipmem.data.sources.base import SourceFeatures
from clipmem.data.sources.csv_source import _as_list, _Rows
from clipmem.data.sources.images import bytes_fingerprint, cached_decode_many, stat_fingerprint
from clipmem.data.sources.records import (
    DecodedFileFields,
    DuplicateFinder,
    assemble_table,
    check_file_source,
    key_to_id,
    split_captions,
)
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError, one_line
from clipmem.progress import interactive

SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # what save_to_disk writes
FOLDER_METADATA = ("metadata.csv", "metadata.jsonl")  # an imagefolder with captions (datasets' imagefolder builder)
FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def _local_files(path: str) -> list[Path]:
    """The parquet/arrow files ``path`` names (a file or a glob pattern), sorted; [] when it names none."""
    found = sorted(Path(p) for p in glob.glob(str(Path(path).expanduser())))
    return [p for p in found if p.is_file() and p.suffix.lower() in FILE_BUILDERS]


def _image_item(value: Any, folder: Path) -> bytes | Path | None:
    """What to decode for one image cell: the bytes of an Image feature (or a binary column), else its path; None
    when the cell holds no image. A relative path resolves as ``datasets`` resolves it, against the working
    directory (what ``Dataset.to_parquet`` of paths given relative to it stores), else against the dataset's
    folder."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, bytes | bytearray):
        return bytes(value) if value else None
    if isinstance(value, str) and value.strip():
        path = Path(value.strip()).expanduser()
        if path.is_absolute() or path.exists():
            return path.absolute()
        return folder / path
    return None


@dataclass(frozen=True)
class HFSource(DecodedFileFields):
    """Pairs from a Hugging Face ``datasets`` dataset, loaded into memory.

    Args:
        path: a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, a ``.parquet`` or
            ``.arrow`` file or glob pattern (``data/train-*.parquet``), or a hub name (``user/dataset``, online).
        split: the split of a DatasetDict or a hub dataset (files and single saved datasets have one).
        image_key: the image column: an ``Image`` feature, image bytes, or a path (relative to the folder).
        caption_keys: caption column(s); a column may hold a string or a list of strings (several captions).
        caption_sep: if set, each caption is also split at this string.
        id_key: column with the sample id (decimal ids are used as they are, other values hashed as for CSV);
            None: the 0-based row index, stable as long as the rows keep their order.
        resolution: side in px of the cached uint8 images (shorter side resized, centre-cropped).
        on_bad_sample: ``error`` or ``skip`` (rows without an image or caption, undecodable images, duplicates).
        num_threads: decoding threads (None: up to 8, by CPU count).
        cache_dir: folder for an on-disk cache of the decoded images, keyed by the image bytes (or file stats).
    """

    features: ClassVar[SourceFeatures] = SourceFeatures(decodes_files=True)

    path: str | None = None
    split: str | None = "train"
    image_key: str = "image"
    caption_keys: str | list[str] = "text"
    id_key: str | None = None
    _caption_list: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_caption_list", _as_list(self.caption_keys, "data.source.caption_keys"))
        check_file_source(self.on_bad_sample, self.resolution, self.caption_sep)

    def check(self) -> str:
        """The dataset's path or name; ConfigError when it is unset."""
        if not self.path:
            raise ConfigError("data.source.path is not set: pass data.source.path=<save_to_disk folder, "
                              ".parquet/.arrow file or pattern, or hub name>")
        return str(self.path)

    def _pick_split(self, loaded: Any) -> Any:
        if not hasattr(loaded, "column_names") or isinstance(loaded.column_names, dict):  # a DatasetDict
            if self.split not in loaded:
                raise ConfigError(f"data.source.split: {self.path} has no split {self.split!r}; it has {list(loaded)}")
            return loaded[self.split]
        return loaded

    def open(self) -> tuple[Any, Path]:
        """(the ``datasets.Dataset``, the folder relative image paths resolve against)."""
        import datasets

        if not interactive():
            datasets.disable_progress_bars()
        path = self.check()
        folder = Path(path).expanduser()
        if folder.is_dir() and any((folder / marker).is_file() for marker in SAVED_MARKERS):
            return self._pick_split(datasets.load_from_disk(str(folder))), folder
        if folder.is_dir() and any((folder / marker).is_file() for marker in FOLDER_METADATA):
            return self._imagefolder(datasets, folder), folder
        files = _local_files(path)
        if files:
            builder = FILE_BUILDERS[files[0].suffix.lower()]
            with tempfile.TemporaryDirectory(prefix="clipmem-hf-") as cache:  # no copy left in the user's cache
                table = datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train",
                                              cache_dir=cache).flatten_indices(keep_in_memory=True)
            return table, files[0].parent
        if folder.exists() or Path(path).suffix:
            raise ConfigError(f"data.source.path: {path!r} is neither a folder written by save_to_disk, an imagefolder "
                              f"with {' or '.join(FOLDER_METADATA)}, nor .parquet/.arrow/.csv/.json(l) files")
        return self._from_hub(datasets, path), Path.cwd()

    def _imagefolder(self, datasets: Any, folder: Path) -> Any:
        """A local imagefolder: images with a metadata.csv or metadata.jsonl (``file_name`` plus caption columns)."""
        with tempfile.TemporaryDirectory(prefix="clipmem-hf-") as cache:
            loaded = datasets.load_dataset("imagefolder", data_dir=str(folder), cache_dir=cache)
            return self._pick_split(loaded).flatten_indices(keep_in_memory=True)

    def _from_hub(self, datasets: Any, name: str) -> Any:
        try:
            return self._pick_split(datasets.load_dataset(name, split=self.split))
        except ConfigError:
            raise
        except Exception as err:  # offline, unknown name, private data set: one line saying what to do
            raise ConfigError(
                f"data.source.path: {name!r} is not a local dataset and the Hugging Face hub did not give it "
                f"({type(err).__name__}: {one_line(err, 160)}); where there is network, run "
                f"datasets.load_dataset({name!r}).save_to_disk('<folder>') and pass data.source.path=<folder>"
            ) from None

    def _rows(self, columns: dict[str, list], folder: Path, bad: BadSamples) -> _Rows:
        """Rows with an id, a caption and an image (others reported as bad), in dataset order."""
        out, first_row = _Rows(), {}
        for index in range(len(columns[self.image_key])):
            at = f"row {index}"
            key = str(index) if self.id_key is None else str(columns[self.id_key][index] or "").strip()
            if not key:
                bad.report(self.path, index, f"empty id in column {self.id_key!r}", location=at)
                continue
            sid = key_to_id(key)
            if sid in first_row:
                bad.report(self.path, index, f"duplicate sample id {sid} (key {key!r}; first at row {first_row[sid]})",
                           sample_id=sid, location=at)
                continue
            first_row[sid] = index
            fields = [columns[k][index] for k in self._caption_list]
            texts = split_captions([t for f in fields for t in (f if isinstance(f, list) else [f])
                                    if t is None or isinstance(t, str)], self.caption_sep)
            image = _image_item(columns[self.image_key][index], folder)
            if not texts:
                bad.report(self.path, index, f"empty caption (columns {self._caption_list})", sample_id=sid,
                           location=at)
            elif image is None:
                bad.report(self.path, index, f"no image (column {self.image_key!r})", sample_id=sid, location=at)
            else:
                out.add(sid, key, texts, image, at, index)
        return out

    def _columns(self, dataset: Any) -> dict[str, list]:
        """The needed columns as Python lists, images undecoded (bytes/path dicts)."""
        import datasets

        wanted = [self.image_key, *self._caption_list, *([self.id_key] if self.id_key else [])]
        missing = [c for c in wanted if c not in dataset.column_names]
        if missing:
            raise ConfigError(f"{self.path}: no column(s) {missing} (data.source.image_key / caption_keys / id_key); "
                              f"the dataset has columns {dataset.column_names}")
        dataset = dataset.select_columns(list(dict.fromkeys(wanted)))
        if isinstance(dataset.features[self.image_key], datasets.Image):
            dataset = dataset.cast_column(self.image_key, datasets.Image(decode=False))
        return dataset.to_dict()

    def load(self) -> ImageTextTable:
        dataset, folder = self.open()
        bad = BadSamples(self.on_bad_sample, "data")
        rows = self._rows(self._columns(dataset), folder, bad)
        blobs = [f for f in rows.files if isinstance(f, bytes)]
        fingerprint = bytes_fingerprint(blobs) + stat_fingerprint([f for f in rows.files if not isinstance(f, bytes)])
        decoded = cached_decode_many(rows.files, self.resolution, self.cache_dir, fingerprint, self.num_threads,
                                     desc=f"decoding {Path(str(self.path)).name}")
        keep, duplicates = [], DuplicateFinder(bad)
        for i, result in enumerate(decoded):
            if isinstance(result, str):
                where = "" if isinstance(rows.files[i], bytes) else f": {rows.files[i]}"  # name the file
                bad.report(self.path, rows.rows[i], result + where, sample_id=rows.ids[i], location=rows.where[i])
            elif duplicates.check(result.tobytes(), rows.captions[i], self.path, rows.rows[i], rows.ids[i],
                                  rows.where[i]):
                keep.append(i)
        bad.warn()
        return assemble_table(rows, decoded, keep, self.resolution, bad.records,
                              {"same_image_other_caption": duplicates.same_image_other_caption},
                              keyed=self.id_key is not None)
