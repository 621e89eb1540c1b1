"""Image–caption pairs from webdataset shards (``{00000..00099}.tar``, as img2dataset writes them).

A shard is a tar file whose members are grouped into samples by key: ``<key>.jpg`` (or png, jpeg,
webp) plus ``<key>.txt`` and/or ``<key>.json`` with a caption field. The key is the member path up to
the first dot of its file name (webdataset's ``__key__``); ``records.key_to_id`` turns it into the
sample id. Read with the standard library's ``tarfile``; see docs/own-data.md for why not the ``webdataset``
package.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from clipmem.data.sources.bad_samples import SHARD_ROW, BadSamples
from clipmem.data.sources.base import SourceFeatures
from clipmem.data.sources.images import bytes_fingerprint, cached_decode_many, verify_image
from clipmem.data.sources.records import (
    DecodedFileFields,
    DuplicateFinder,
    assemble_table,
    check_file_source,
    key_to_id,
    split_captions,
)
from clipmem.data.sources.tar_shards import REPEATED_MEMBERS, Shard, TruncatedShard, iter_samples, shard_paths
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError


def _caption_fields(files: dict[str, bytes], caption_keys: list[str]) -> list[str | None]:
    """Caption texts of one sample: ``txt``-style keys name an extension, ``json.<field>`` a field of the json."""
    out: list[str | None] = []
    parsed_json: dict | None = None
    for spec in caption_keys:
        ext, _, json_field = spec.partition(".") if spec.startswith("json.") else (spec, "", "")
        if not json_field:
            raw = files.get(ext.lower())
            out.append(None if raw is None else raw.decode("utf-8"))
            continue
        if "json" not in files:
            out.append(None)
            continue
        if parsed_json is None:
            parsed_json = json.loads(files["json"].decode("utf-8"))
        value = parsed_json.get(json_field) if isinstance(parsed_json, dict) else None
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
        else:
            out.append(value if isinstance(value, str) else None)
    return out


def _counts(scan: _Scan) -> dict[str, int]:
    return {"same_image_other_caption": scan.duplicates.same_image_other_caption}


def report_truncated(bad: BadSamples, err: TruncatedShard) -> None:
    """A truncated shard: a ``SHARD_ROW`` record (an unknown number of samples lost) and, where known, a record
    of the sample that was being read when the shard broke off."""
    bad.report(err.shard, SHARD_ROW, str(err), location="the shard")
    if err.lost_key is not None:
        bad.report(err.shard, err.lost_key, f"truncated shard: the sample's members were cut off at byte {err.offset}",
                   sample_id=key_to_id(err.lost_key), location=f"key {err.lost_key!r}")


@dataclass
class _Scan:
    """What one pass over the shards found: good samples (parallel lists) and the bad-sample log."""

    shards: list[Shard]
    bad: BadSamples
    ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    captions: list[list[str]] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    shard_of: list[int] = field(default_factory=list)
    first_seen: dict[int, str] = field(default_factory=dict)
    verify_only: bool = False
    digest: Any = field(default_factory=hashlib.sha256)  # over every good sample's key, image bytes, captions
    duplicates: DuplicateFinder | None = None


@dataclass(frozen=True)
class ShardIndex:
    """Good samples of a set of shards without their images: ``sample_ids`` (N,) int64, ``keys`` (N),
    ``shard_of`` (N,) int64 index into ``shards``, and the bad samples found (``skipped`` records)."""

    shards: list[Shard]
    sample_ids: np.ndarray
    keys: list[str]
    shard_of: np.ndarray
    skipped: list[dict]
    digest: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WebDatasetSource(DecodedFileFields):
    """Pairs from webdataset tar shards, loaded into memory (one pass over the shards).

    Args:
        urls: shard pattern with braces (``data/shards/{00000..00009}.tar``), several joined by ``::``,
            or a list of paths/patterns.
        caption_keys: where captions come from, in order: an extension (``txt``) or ``json.<field>``
            (a string or a list of strings in the sample's json). All present ones are used, repeats left
            out, so img2dataset's identical ``txt`` and ``json.caption`` give one caption.
        caption_sep: if set, each caption is also split at this string into several captions.
        image_exts: image member extensions, first present wins.
        resolution: side in px of the cached uint8 images (shorter side resized, centre-cropped).
        on_bad_sample: ``error`` (raise naming shard, key and reason) or ``skip`` (record and leave out).
        num_threads: decoding threads (None: up to 8, by CPU count).
        cache_dir: if set, decoded images are cached there, keyed by a sha256 of the image bytes and
            ``resolution`` (``images.cached_decode_many``); the shards are still read for captions.
        streaming: if True only S_C, S_I and S_E are kept in memory and training pairs are streamed from
            the shards (``clipmem.data.sources.wds_stream``); otherwise everything is loaded into memory.
        shuffle_buffer: samples held for shuffling while streaming.

    Sample ids come from keys (``records.key_to_id``: decimal keys are the id, others a stable 63-bit
    hash); the keys are kept in ``table.keys`` and the run writes them to ``sample_keys.csv``.
    """

    features: ClassVar[SourceFeatures] = SourceFeatures(decodes_files=True)

    urls: str | list[str] | None = None
    caption_keys: str | list[str] = field(default_factory=lambda: ["txt", "json.caption"])
    image_exts: tuple[str, ...] | list[str] = ("jpg", "jpeg", "png", "webp")
    streaming: bool = False
    shuffle_buffer: int = 2048

    def __post_init__(self) -> None:
        keys = [self.caption_keys] if isinstance(self.caption_keys, str) else list(self.caption_keys)
        if not keys or not all(isinstance(k, str) and k and k != "json." for k in keys):
            raise ConfigError(f"data.source.caption_keys must be extensions (txt) or json.<field>, got {keys!r}")
        object.__setattr__(self, "caption_keys", keys)
        object.__setattr__(self, "image_exts", tuple(e.lower().lstrip(".") for e in self.image_exts))
        check_file_source(self.on_bad_sample, self.resolution, self.caption_sep)

    def check(self) -> list[Shard]:
        """The shard files; ConfigError when ``urls`` is unset or a shard does not exist."""
        return shard_paths(self.urls)

    def load(self) -> ImageTextTable:
        return self._decode(self._scan())

    def index(self) -> ShardIndex:
        """Ids, keys and shard of every good sample, in one pass that checks each image without keeping it.

        The check (``PIL.Image.verify``) catches files that are not images, unknown formats and, for PNG,
        corrupt chunks; a truncated JPEG is only found when decoded (then streaming stops with its key).
        """
        scan = self._scan(verify_only=True)
        return ShardIndex(scan.shards, np.asarray(scan.ids, dtype=np.int64), scan.keys,
                          np.asarray(scan.shard_of, dtype=np.int64), scan.bad.records, scan.digest.hexdigest(),
                          _counts(scan))

    def load_subset(self, sample_ids: set[int]) -> ImageTextTable:
        """Only the samples with these ids, decoded into a table (one filtered pass over the shards).

        Samples ``index()`` already reported as bad are passed over without a second record.
        """
        return self._decode(self._scan(keep=set(sample_ids)))

    def _scan(self, keep: set[int] | None = None, verify_only: bool = False) -> _Scan:
        """One pass over the shards: every sample checked (``_add``); only ids in ``keep`` if given."""
        scan = _Scan(shards=shard_paths(self.urls), bad=BadSamples(self.on_bad_sample, "data"), verify_only=verify_only)
        scan.duplicates = DuplicateFinder(scan.bad)
        for shard_index, shard in enumerate(scan.shards):
            samples = iter_samples(shard)
            while True:
                try:
                    key, files = next(samples)
                except StopIteration:
                    break
                except TruncatedShard as err:
                    if keep is None:
                        report_truncated(scan.bad, err)
                    break
                if keep is not None:
                    sid = key_to_id(key)
                    if sid not in keep or sid in scan.first_seen:
                        continue
                self._add(scan, shard_index, key, files)
        return scan

    def _decode(self, scan: _Scan) -> ImageTextTable:
        decoded = cached_decode_many(scan.blobs, self.resolution, self.cache_dir, bytes_fingerprint(scan.blobs),
                                     self.num_threads, desc="decoding shards")
        keep = []
        for i, result in enumerate(decoded):
            shard, key = scan.shards[scan.shard_of[i]], scan.keys[i]
            if isinstance(result, str):
                scan.bad.report(shard, key, result, sample_id=scan.ids[i], location=f"key {key!r}")
            elif scan.duplicates.check(result.tobytes(), scan.captions[i], shard, key, scan.ids[i], f"key {key!r}"):
                keep.append(i)
        scan.bad.warn()
        return assemble_table(scan, decoded, keep, self.resolution, scan.bad.records, _counts(scan))

    def _add(self, scan: _Scan, shard_index: int, key: str, files: dict[str, bytes]) -> None:
        """Check one sample and append it to ``scan``, or report it as bad."""
        shard, bad, at = scan.shards[shard_index], scan.bad, f"key {key!r}"
        sid = key_to_id(key)
        if sid in scan.first_seen:
            bad.report(shard, key, f"duplicate sample id {sid} (first from key {scan.first_seen[sid]!r})",
                       sample_id=sid, location=at)
            return
        scan.first_seen[sid] = key
        if REPEATED_MEMBERS in files:
            repeated = sorted(set(files[REPEATED_MEMBERS].decode().split()))
            bad.report(shard, key, f"members {', '.join(f'{key}.{e}' for e in repeated)} appear more than once in the "
                       "shard (which copy is meant?)", sample_id=sid, location=at)
            return
        image_ext = next((e for e in self.image_exts if e in files), None)
        if image_ext is None:
            bad.report(shard, key, f"no image member (looked for {list(self.image_exts)}; has {sorted(files)})",
                       sample_id=sid, location=at)
            return
        try:
            texts = self.captions_of(files)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            bad.report(shard, key, f"unreadable caption ({err})", sample_id=sid, location=at)
            return
        if not texts:
            bad.report(shard, key, f"empty caption (caption_keys {self.caption_keys})", sample_id=sid, location=at)
            return
        # exact duplicates are found on decoded pixels, as the CSV source does (``_decode``); the streaming index
        # decodes nothing and compares the image bytes
        if scan.verify_only and not scan.duplicates.check(files[image_ext], texts, shard, key, sid, at):
            return
        if scan.verify_only:
            problem = verify_image(files[image_ext])
            if problem:
                bad.report(shard, key, problem, sample_id=sid, location=at)
                return
        for part in (key, files[image_ext], "\x1f".join(texts)):
            scan.digest.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        scan.ids.append(sid)
        scan.keys.append(key)
        scan.captions.append(texts)
        scan.blobs.append(b"" if scan.verify_only else files[image_ext])
        scan.shard_of.append(shard_index)

    def captions_of(self, files: dict[str, bytes]) -> list[str]:
        """The captions of one sample's members (may raise UnicodeDecodeError / JSONDecodeError)."""
        return split_captions(_caption_fields(files, self.caption_keys), self.caption_sep)

    def image_of(self, files: dict[str, bytes]) -> bytes | None:
        """The bytes of one sample's image member (first of ``image_exts`` present), or None."""
        return next((files[e] for e in self.image_exts if e in files), None)
