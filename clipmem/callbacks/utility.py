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

    def __init__(self, every_n_epochs: int = 2, zeroshot: bool = True, linear_probe: bool = True,
                 retrieval: bool = True) -> None:
        super().__init__(every_n_epochs)
        chosen = {"zeroshot": zeroshot, "linear_probe": linear_probe, "retrieval": retrieval}
        self.kinds = tuple(kind for kind in UTILITY_KINDS if chosen[kind])
        if not self.kinds:
            raise ConfigError("callbacks.utility: every metric is off; set callbacks.utility=null instead")
        self.family = None

    def bind(self, context) -> None:
        """The watched model's family: a model of another family than CLIP is measured on what it has (its
        linear probe; no zero-shot or retrieval without a text tower)."""
        self.family = context.family

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule.data
        if self.family is None:
            metrics = utility_metrics(pl_module.clip, data, pl_module.device, self.kinds)
        else:
            kinds = tuple(kind for kind in self.kinds if kind in self.family.utility_kinds)
            model = self.family.trained_model(pl_module)
            metrics = self.family.utility(model, data, pl_module.device, kinds) if kinds else {}
        for name, value in metrics.items():
            pl_module.log(f"{pl_module.log_prefix}{name}", value)
