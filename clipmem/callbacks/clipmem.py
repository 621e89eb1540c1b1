"""CLIPMem of the model being trained against a finished reference model's statistics, across epochs."""

from __future__ import annotations

import lightning as L

from clipmem.callbacks.base import EpochEvaluation
from clipmem.scoring.clipmem import clipmem_raw, normalise
from clipmem.scoring.estimators import score_summary
from clipmem.scoring.statistics import SampleStatistics


class CLIPMemCallback(EpochEvaluation):
    """Scores the plan's scored pairs with the current model against its reference (f against g in the
    pair design: ``L_f − L_g`` on S_C and ``L_g − L_f`` on S_I) and logs mean CLIPMem (and the mis-caption
    AUC where mis-captions exist); a model of another family is scored by its family's statistic and logs
    ``<model>/memorization/…``.

    ``bind(context)`` (called by the trainer step) gives the training context: which model this is,
    its reference's saved statistics, the data and the scoring config. Without a reference (g, or any
    model of a design without one) the callback does nothing. ``history`` keeps one row per evaluation.
    """

    def __init__(self, every_n_epochs: int = 2) -> None:
        super().__init__(every_n_epochs)
        self.history: list[dict[str, float]] = []
        self.context = None
        self._scorer = None
        self._reference: SampleStatistics | None = None

    def bind(self, context) -> None:
        self.context = context

    def state_dict(self) -> dict[str, list]:
        """Saved in Lightning checkpoints, so a resumed model keeps the history of its earlier epochs."""
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, list]) -> None:
        self.history = list(state_dict.get("history", []))

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.context is None:
            return
        if self._reference is None:
            self._reference = self.context.reference_statistics()
            if self._reference is None:
                return
            self._scorer = self.context.family.scorer(self.context.data, self.context.scored_ids,
                                                      self.context.scoring, pl_module.device)
        sign = self.context.reference_sign()
        scored = sign != 0
        family = self.context.family
        current = self._scorer.statistics(family.trained_model(pl_module))
        raw = (sign * clipmem_raw(current.value, self._reference.value))[scored]
        summary = score_summary({"clipmem": normalise(raw, self.context.scoring.normalisation), "clipmem_raw": raw,
                                 "miscaptioned": self._scorer.pairs.miscaptioned[scored]})
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        group = family.log_group
        for key in ("clipmem_mean", "clipmem_raw_mean", "miscaption_auc"):
            if summary.get(key) is not None:
                row[key] = summary[key]
                pl_module.log(f"{pl_module.log_prefix}{group}/{key}", summary[key])
        self.history.append(row)
