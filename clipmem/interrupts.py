"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives; inside a finaliser
(a file closed while Lightning writes a checkpoint, a ``__del__``) the exception is printed and discarded, and the
run would go on to ``complete``. While a run is active, ``catch_interrupts`` records every SIGINT before raising it,
and ``check`` raises it again at the run's safe points (after each epoch and model, before success is recorded).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"hit": False}


def _handle(signum, frame) -> None:
    _state["hit"] = True
    raise KeyboardInterrupt


@contextmanager
def catch_interrupts() -> Iterator[None]:
    """Record SIGINT for ``check`` while the block runs (main thread only; a process started with SIGINT ignored,
    such as a background job, keeps ignoring it)."""
    _state["hit"] = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, _handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _state["hit"] = False


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT arrived since the run started (even one swallowed by a finaliser)."""
    if _state["hit"]:
        raise KeyboardInterrupt("Ctrl-C arrived while the run was busy (e.g. writing a checkpoint)")
