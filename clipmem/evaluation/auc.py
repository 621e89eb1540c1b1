"""Area under the ROC curve of scores for telling flagged samples (e.g. mis-captioned) from the rest."""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import binary_auroc


def flag_auc(scores: torch.Tensor, flags: torch.Tensor) -> float | None:
    """AUROC of ``scores`` (N,) for predicting boolean ``flags`` (N,), in float64 (float32 would tie scores that differ
    by less than its precision, such as ``rank_by_familiarity``'s tie-break); None when one class is absent."""
    flags = flags.bool()
    if bool(flags.all()) or not bool(flags.any()):
        return None
    return float(binary_auroc(scores.double(), flags.long()))


def auc_interval(auc: float, positives: int, negatives: int, z: float = 1.959964) -> tuple[float, float, float]:
    """Hanley–McNeil (1982) standard error of an AUC from ``positives`` flagged and ``negatives`` other
    samples, and the normal-approximation interval (clamped to [0, 1]): (se, low, high)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc))
    se = max(variance, 0.0) ** 0.5 / max(positives * negatives, 1) ** 0.5
    return se, max(0.0, auc - z * se), min(1.0, auc + z * se)
