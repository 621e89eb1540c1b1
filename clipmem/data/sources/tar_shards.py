"""Reading webdataset tar shards: shard patterns, members grouped into samples by key, and a check that a
shard ends where tar says it ends (a truncated shard is never read as a shorter complete one).

Local shards are read in place. A URL (``pipe:<command>``, ``http(s)://``, ``gs://``, ... : every scheme of
``webdataset.gopen``) is opened by the ``webdataset`` library and copied to a temporary file one shard at a
time, so remote shards get the same checks as local ones (docs/own-data.md, "Remote shards and URLs")."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from clipmem.errors import ConfigError, one_line

BLOCK = 512  # tar's block size; an archive ends with zero blocks

_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # two letters at least: "C:" is a Windows drive, not a scheme
Shard = Path | str  # a local file, or a URL read through webdataset.gopen


def is_url(shard: Shard) -> bool:
    """True for ``pipe:…``, ``http(s)://…`` and other schemes; False for local paths (``file:`` included)."""
    return isinstance(shard, str) and bool(_SCHEME.match(shard)) and not shard.startswith("file:")


def expand_braces(pattern: str) -> list[str]:
    """Expand ``{a..b}`` numeric ranges (zero padding kept) and ``{x,y}`` lists, like bash and webdataset.

    ``"shards/{00000..00002}.tar"`` -> ``["shards/00000.tar", "shards/00001.tar", "shards/00002.tar"]``.
    """
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    body, head, tail = match.group(1), pattern[: match.start()], pattern[match.end():]
    numeric = _RANGE.match(body)
    if numeric:
        lo, hi = numeric.groups()
        width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
        step = 1 if int(hi) >= int(lo) else -1
        options = [str(i).zfill(width) for i in range(int(lo), int(hi) + step, step)]
    else:
        options = body.split(",")
    return [expanded for option in options for expanded in expand_braces(head + option + tail)]


def shard_paths(urls: str | list[str] | None) -> list[Shard]:
    """Shards from one pattern, several joined by ``::`` (webdataset's convention), or a list of them: local
    files (which must exist) and URLs (``is_url``), in order."""
    if not urls:
        raise ConfigError("data.source.urls is not set: pass \"data.source.urls='shards/{00000..00009}.tar'\"")
    patterns = urls.split("::") if isinstance(urls, str) else list(urls)
    names = [p for pattern in patterns for p in expand_braces(pattern.strip()) if p]
    shards: list[Shard] = [name if is_url(name) else Path(re.sub(r"^file:(//)?", "", name)).expanduser()
                           for name in names]
    if not shards:
        raise ConfigError(f"data.source.urls names no shard: {urls!r}")
    missing = [str(p) for p in shards if isinstance(p, Path) and not p.is_file()]
    if missing:
        raise ConfigError(f"data.source.urls: {len(missing)} of {len(shards)} shards do not exist, e.g. {missing[0]!r}")
    return shards


def split_member_name(name: str) -> tuple[str, str] | None:
    """(key, extension) of a tar member: the path up to the first dot of its file name, and the rest (lower case)."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not dot or not stem:
        return None
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


class TruncatedShard(tarfile.ReadError):
    """A shard that stops before tar's end-of-archive marker, or cannot be read past a point.

    ``lost_key``: the sample whose members were being read when the shard broke off (never yielded);
    ``offset``: the (uncompressed) byte offset where reading stopped; samples after it are lost and
    their number is unknown.
    """

    def __init__(self, shard: Shard, reason: str, lost_key: str | None, offset: int) -> None:
        self.shard = shard if is_url(shard) else Path(shard)
        self.reason, self.lost_key, self.offset = reason, lost_key, int(offset)
        lost = f"; the sample being read (key {lost_key!r}) is lost" if lost_key else ""
        super().__init__(f"{reason} at byte {offset}{lost}; how many samples followed it is unknown")


def _open_uncompressed(path: Path) -> BinaryIO:
    """The shard's tar bytes: gzip, bzip2 and xz shards decompressed (by their magic bytes)."""
    with path.open("rb") as raw:
        magic = raw.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    return path.open("rb")


def end_problem(path: Path, offset: int) -> str | None:
    """None when everything from ``offset`` (where the members ended) to the end of the shard is zero blocks
    (at least one: tar's end-of-archive marker), else what is wrong there."""
    try:
        with _open_uncompressed(path) as stream:
            stream.seek(offset)
            rest, nonzero = 0, False
            while chunk := stream.read(1 << 20):
                rest += len(chunk)
                nonzero = nonzero or chunk.count(0) != len(chunk)
    except (OSError, EOFError, lzma.LZMAError) as err:
        return f"shard cannot be read to its end ({type(err).__name__}: {err})"
    if nonzero:
        return "shard is truncated or corrupt (unreadable data after the last complete member)"
    if rest < BLOCK:
        return "shard is truncated (it stops without tar's end-of-archive marker)"
    return None


@contextmanager
def fetched(url: str) -> Iterator[Path]:
    """The bytes of a shard URL in a temporary file (removed afterwards), read with ``webdataset.gopen``.
    A command or download that fails (a ``pipe:`` command's exit status, an HTTP error) is a TruncatedShard."""
    from webdataset.gopen import gopen

    with tempfile.TemporaryDirectory(prefix="clipmem-shard-") as folder:
        local = Path(folder) / "shard"
        try:
            with gopen(url, "rb") as stream, local.open("wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        except (OSError, ValueError, EOFError) as err:
            raise TruncatedShard(url, f"cannot read the shard ({type(err).__name__}: {one_line(err, 200)})", None,
                                 local.stat().st_size if local.exists() else 0) from err
        yield local


REPEATED_MEMBERS = "__repeated__"  # in a sample's files: the extensions that appeared more than once


def iter_samples(shard: Shard) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) for each sample of a shard, in file order; consecutive members form a sample.
    A member that appears twice under one key is listed under ``REPEATED_MEMBERS`` (the sample is then bad).

    Raises ``TruncatedShard`` where the shard breaks off or is corrupt, after yielding every sample that was
    complete before that point; the sample being read there is not yielded. URLs are fetched first (``fetched``).
    """
    if is_url(shard):
        with fetched(str(shard)) as local:
            yield from _file_samples(local, shard)
    else:
        yield from _file_samples(Path(shard), shard)


def _file_samples(path: Path, shard: Shard) -> Iterator[tuple[str, dict[str, bytes]]]:
    """``iter_samples`` of a local file ``path``; errors name ``shard`` (the URL of a fetched shard)."""
    current: str | None = None
    tar = None
    try:
        with tarfile.open(path, "r|*") as tar:
            files: dict[str, bytes] = {}
            for member in tar:
                parsed = split_member_name(member.name) if member.isfile() else None
                if parsed is None:
                    continue
                key, ext = parsed
                if key != current and current is not None:
                    yield current, files
                    files = {}
                current = key
                if ext in files:  # the same member twice: never let the last copy win silently
                    files.setdefault(REPEATED_MEMBERS, b"")
                    files[REPEATED_MEMBERS] += f"{ext} ".encode()
                files[ext] = tar.extractfile(member).read()
            problem = end_problem(path, tar.offset)
            if problem:
                raise TruncatedShard(shard, problem, current, tar.offset)
            if current is not None:
                yield current, files
    except TruncatedShard:
        raise
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError) as err:
        offset = tar.offset if tar is not None else 0
        raise TruncatedShard(shard, f"unreadable tar data ({type(err).__name__}: {err})", current, offset) from err
