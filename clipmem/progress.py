"""Progress for the long steps (decoding, training, per-model statistics, scoring): a tqdm bar when stderr is
a terminal, log lines otherwise (batch jobs, CI, ``train.log``), never both."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm.auto import tqdm

log = logging.getLogger("clipmem")
T = TypeVar("T")


def interactive() -> bool:
    """True when stderr is a terminal (bars are drawn there); False in pipes, files and batch jobs."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(items: Iterable[T], total: int, desc: str, unit: str = "it", min_total: int = 1) -> Iterator[T]:
    """Iterate ``items`` with a bar on a terminal, or a start and an end log line elsewhere (``min_total``:
    fewer items than this show nothing)."""
    if total < min_total:
        yield from items
        return
    if interactive():
        yield from tqdm(items, total=total, desc=desc, unit=unit, leave=False)
        return
    started = time.monotonic()
    log.info("%s: %d %s ...", desc, total, unit)
    yield from items
    log.info("%s: done in %.1f s", desc, time.monotonic() - started)


@contextmanager
def step(desc: str) -> Iterator[None]:
    """One log line when a step starts and one with its duration when it ends (terminal or not)."""
    started = time.monotonic()
    log.info("%s ...", desc)
    yield
    log.info("%s: done in %.1f s", desc, time.monotonic() - started)
