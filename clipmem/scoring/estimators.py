"""Estimators: pure functions from per-model statistics and membership to per-sample scores.

The paper's pair estimator (docs/method.md, "The score"): for pairs model f trained on and g did not,
``m(x) = L_f(x) − L_g(x)``, reported min–max normalised over the scored set with the raw value kept.
"""

from __future__ import annotations

from typing import Any

import torch

from clipmem.errors import IncompatibleModelsError
from clipmem.evaluation.auc import flag_auc
from clipmem.scoring.clipmem import pair_scores
from clipmem.scoring.statistics import SampleStatistics


def pair_estimate(stats_in: SampleStatistics, stats_out: SampleStatistics, normalisation: str = "minmax"
                  ) -> dict[str, torch.Tensor]:
    """Scores of the pairs that the model behind ``stats_in`` trained on and ``stats_out``'s did not.

    Both statistics must cover the same sample ids in the same order. Returns (N,) columns ``sample_id``,
    ``align_f``, ``align_g``, ``contrast_f``, ``contrast_g``, ``clipmem_raw`` and ``clipmem`` (f: in, g: out).
    """
    if not torch.equal(stats_in.sample_ids, stats_out.sample_ids):
        raise IncompatibleModelsError("the two models' statistics cover different sample ids; re-score both")
    scores = pair_scores(stats_in.align, stats_in.contrast, stats_out.align, stats_out.contrast, normalisation)
    return {"sample_id": stats_in.sample_ids, **scores}


def score_summary(scores: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Means and medians of CLIPMem, per group where mis-captions exist, and the mis-caption AUC.

    ``scores`` needs ``clipmem``, ``clipmem_raw`` and a boolean ``miscaptioned`` column, each (N,).
    """
    clipmem, raw, flags = scores["clipmem"], scores["clipmem_raw"], scores["miscaptioned"].bool()
    out: dict[str, Any] = {
        "clipmem_mean": float(clipmem.mean()),
        "clipmem_median": float(clipmem.median()),
        "clipmem_raw_mean": float(raw.mean()),
        "num_candidates": int(len(clipmem)),
        "num_miscaptioned": int(flags.sum()),
    }
    if flags.any() and not flags.all():
        out["clipmem_mean_miscaptioned"] = float(clipmem[flags].mean())
        out["clipmem_mean_clean"] = float(clipmem[~flags].mean())
        out["miscaption_auc"] = flag_auc(clipmem, flags)
    return out
