"""CLIPMem of the model being trained (f) against a finished reference model g, across epochs."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from clipmem.callbacks.base import EpochEvaluation
from clipmem.models.local_dir import load_local_dir
from clipmem.scoring.pipeline import CandidateScorer, ScoringConfig, score_summary


class CLIPMemCallback(EpochEvaluation):
    """Scores S_C with the current f against g's saved weights and logs mean CLIPMem (and the
    mis-caption AUC where mis-captions exist). ``history`` keeps one row per evaluation.

    Args:
        reference_dir: g's model directory (open_clip local-dir); the callback does nothing without it.
        scoring: how to score (``ScoringConfig``); K and the view seed are shared with the final score.
        every_n_epochs: evaluation cadence.
    """

    def __init__(self, reference_dir: str | Path | None, scoring: ScoringConfig, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
        self.reference_dir = None if reference_dir is None else Path(reference_dir)
        self.scoring = scoring
        self.history: list[dict[str, float]] = []
        self._scorer: CandidateScorer | None = None
        self._reference = None

    def state_dict(self) -> dict[str, list]:
        """Saved in Lightning checkpoints, so a resumed f keeps the history of its earlier epochs."""
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, list]) -> None:
        self.history = list(state_dict.get("history", []))

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.reference_dir is None:
            return
        if self._reference is None:
            self._reference, _, _ = load_local_dir(self.reference_dir)
            self._reference.to(pl_module.device)
            self._scorer = CandidateScorer(trainer.datamodule, self.scoring, pl_module.device)
        summary = score_summary(self._scorer.score(pl_module.clip, self._reference))
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        for key in ("clipmem_mean", "clipmem_raw_mean", "miscaption_auc"):
            if summary.get(key) is not None:
                row[key] = summary[key]
                pl_module.log(f"{pl_module.log_prefix}clipmem/{key}", summary[key])
        self.history.append(row)
