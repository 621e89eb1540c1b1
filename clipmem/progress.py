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


class PlanProgress:
    """One line per model of a plan: ``model k of M (<name>) ... elapsed, about <t> left``, the estimate from the
    models trained so far in this run (reused models are not counted)."""

    def __init__(self, total: int) -> None:
        self.total, self.started, self.trained, self.spent = total, time.monotonic(), 0, 0.0

    def begin(self, index: int, name: str) -> None:
        elapsed = time.monotonic() - self.started
        left = ""
        if self.trained:
            remaining = (self.spent / self.trained) * (self.total - index)
            left = f", about {format_duration(remaining)} left"
        log.info("model %d of %d (%s): %s elapsed%s", index + 1, self.total, name, format_duration(elapsed), left)

    def done(self, seconds: float, trained: bool) -> None:
        if trained:
            self.trained += 1
            self.spent += seconds


def format_duration(seconds: float) -> str:
    """``42 s``, ``7 min 05 s``, ``1 h 02 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
