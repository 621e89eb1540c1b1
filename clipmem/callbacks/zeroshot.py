"""Zero-shot top-1/top-5 accuracy on every configured zero-shot set of the datamodule."""

from __future__ import annotations

import lightning as L

from clipmem.callbacks.base import EpochEvaluation
from clipmem.data.text import build_tokenizer
from clipmem.evaluation.zeroshot import zeroshot_accuracy


class ZeroShotCallback(EpochEvaluation):
    """Logs ``<prefix>zeroshot/<set>/top1`` (and top5) as fractions in [0, 1]."""

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        tokenizer = build_tokenizer(dm.context_length)
        for name, dataset in dm.zeroshot_sets().items():
            accuracy = zeroshot_accuracy(
                pl_module.clip, tokenizer, dataset, dm.eval_transform, dm.eval_batch_size, pl_module.device
            )
            for key, value in accuracy.items():
                pl_module.log(f"{pl_module.log_prefix}zeroshot/{name}/{key}", value)
