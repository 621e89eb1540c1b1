"""Callbacks that inject faults into real runs (loaded by ``_target_`` from the tests)."""

from __future__ import annotations

import os
import signal

import lightning as L


class _KillsOnCollection:
    """An object whose finaliser sends SIGINT to its own process: the KeyboardInterrupt is raised inside the
    finaliser, where Python prints and discards it."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)


class SigintInFinaliser(L.Callback):
    """Delivers Ctrl-C while the first checkpoint is being written, from inside a finaliser (deterministic: no
    timing involved)."""

    def __init__(self) -> None:
        self.done = False

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if not self.done:
            self.done = True
            doomed = _KillsOnCollection()
            del doomed
