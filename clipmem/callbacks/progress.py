"""One log line per training epoch (``train.log`` and non-terminal runs, where Lightning's bar is off)."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from clipmem import interrupts

log = logging.getLogger("clipmem")


class EpochLog(L.Callback):
    """Logs ``<model>: epoch e/E (s steps): train loss …, val loss … in t s`` on global rank 0.

    Args:
        name: the model's name in the plan (its metrics are logged as ``<name>/…``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        interrupts.check()  # a Ctrl-C swallowed while the last epoch's checkpoint was written
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"{label} {float(metrics[key]):.4f}" for label, key in
                 (("train loss", f"{self.name}/train/loss_epoch"), ("val loss", f"{self.name}/val/loss"))
                 if key in metrics and (label != "val loss" or trainer.num_val_batches)]
        log.info("%s: epoch %d/%d (step %d): %s in %.1f s", self.name, trainer.current_epoch + 1, trainer.max_epochs,
                 trainer.global_step, ", ".join(parts) or "no loss logged", time.monotonic() - self.started)


class EpochBar(TQDMProgressBar):
    """Lightning's bar on a terminal, numbered as clipmem's log lines are (``<model>: epoch 1/10``, not ``Epoch 0``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"{self.name}: epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")
