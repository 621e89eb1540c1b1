"""Area under the ROC curve of scores for telling flagged samples (e.g. mis-captioned) from the rest."""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import binary_auroc


def flag_auc(scores: torch.Tensor, flags: torch.Tensor) -> float | None:
    """AUROC of ``scores`` (N,) for predicting boolean ``flags`` (N,); None when one class is absent."""
    flags = flags.bool()
    if bool(flags.all()) or not bool(flags.any()):
        return None
    return float(binary_auroc(scores.float(), flags.long()))
