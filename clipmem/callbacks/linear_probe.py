"""Linear-probe top-1 on every configured zero-shot set of the datamodule (the paper's utility)."""

from __future__ import annotations

import lightning as L

from clipmem.callbacks.base import EpochEvaluation
from clipmem.evaluation.linear_probe import linear_probe_accuracy


class LinearProbeCallback(EpochEvaluation):
    """Logs ``<prefix>linear_probe/<set>/top1`` as a fraction in [0, 1]."""

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        for name, dataset in dm.zeroshot_sets().items():
            accuracy = linear_probe_accuracy(pl_module.clip, dataset, dm.eval_transform, dm.eval_batch_size,
                                             pl_module.device)
            pl_module.log(f"{pl_module.log_prefix}linear_probe/{name}/top1", accuracy["top1"])
