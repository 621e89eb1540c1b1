"""Atomic file writes (a reader never sees a half-written scores.csv or metrics.json), and the check that an output
folder can be created."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: os.umask can only be read by setting it


_WRITE_GUARDS: list[Callable[[Path], None]] = []


@contextlib.contextmanager
def write_guard(guard: Callable[[Path], None]) -> Iterator[None]:
    """While the context is open, every atomic write calls ``guard(path)`` before it publishes ``path``; a guard
    that raises refuses the write (the run lock: a run that lost its directory writes nothing more into it)."""
    _WRITE_GUARDS.append(guard)
    try:
        yield
    finally:
        _WRITE_GUARDS.remove(guard)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then (each write guard agreeing) rename it over
    ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; outputs get the usual permissions
    try:
        write(Path(tmp))
        for guard in _WRITE_GUARDS:
            guard(path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> None:
    """``rows`` as a CSV file with a header of ``columns`` (in that order), written atomically."""
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def check_writable(directory: str) -> str:
    """``directory`` if it exists as a writable folder or can be created.

    Otherwise one line on stderr and exit status 1: Hydra creates the output directory itself, before
    any clipmem code runs, and a failure there would end in its traceback.
    """
    path = Path(directory).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    problem = (f"{existing} is a file, not a folder" if not existing.is_dir()
               else f"{existing} is not writable" if not os.access(existing, os.W_OK | os.X_OK) else None)
    if problem:
        print(f"clipmem: error: output directory {directory}: cannot create it, {problem}", file=sys.stderr,
              flush=True)
        sys.exit(1)
    return directory
