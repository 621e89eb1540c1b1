"""Shared cadence for evaluation callbacks: run every N epochs and after the last one."""

from __future__ import annotations

import lightning as L


class EpochEvaluation(L.Callback):
    """Calls ``evaluate(trainer, module)`` at the end of every ``every_n_epochs``-th and the final epoch."""

    def __init__(self, every_n_epochs: int = 2) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be ≥ 1, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs

    def _due(self, trainer: L.Trainer) -> bool:
        epoch = trainer.current_epoch + 1
        return epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self._due(trainer):
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise NotImplementedError
