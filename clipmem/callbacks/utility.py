"""Zero-shot, linear-probe and retrieval utility of the model being trained, every N epochs."""

from __future__ import annotations

import lightning as L

from clipmem.callbacks.base import EpochEvaluation
from clipmem.errors import ConfigError
from clipmem.evaluation.utility import UTILITY_KINDS, utility_metrics


class UtilityCallback(EpochEvaluation):
    """Logs ``<model>/zeroshot/<set>/top1``, ``<model>/linear_probe/<set>/top1`` and
    ``<model>/retrieval/<i2t|t2i>_r<k>`` (fractions in [0, 1]) through ``evaluation.utility``.

    Args:
        every_n_epochs: evaluation cadence (and after the last epoch).
        zeroshot, linear_probe, retrieval: which metrics to compute.
    """

    def __init__(self, every_n_epochs: int = 1, zeroshot: bool = True, linear_probe: bool = True,
                 retrieval: bool = True) -> None:
        super().__init__(every_n_epochs)
        chosen = {"zeroshot": zeroshot, "linear_probe": linear_probe, "retrieval": retrieval}
        self.kinds = tuple(kind for kind in UTILITY_KINDS if chosen[kind])
        if not self.kinds:
            raise ConfigError("callbacks.utility: every metric is off; set callbacks.utility=null instead")

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = utility_metrics(pl_module.clip, trainer.datamodule.data, pl_module.device, self.kinds)
        for name, value in metrics.items():
            pl_module.log(f"{pl_module.log_prefix}{name}", value)
