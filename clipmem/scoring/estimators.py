"""Estimators: pure functions from per-model statistics and membership to per-sample scores.

The paper's pair estimator (docs/method.md, "The score"): for pairs model f trained on and g did not,
``m(x) = L_f(x) − L_g(x)``, reported min–max normalised over the scored set with the raw value kept.
"""

from __future__ import annotations

from typing import Any

import torch

from clipmem.errors import IncompatibleModelsError
from clipmem.evaluation.auc import auc_interval, flag_auc
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


def score_summary(scores: dict[str, torch.Tensor], sets: tuple[str, ...] | list[str] | None = None
                  ) -> dict[str, Any]:
    """Means and medians of CLIPMem, per group where mis-captions exist, the mis-caption AUC with its
    Hanley–McNeil interval, per scored set (``sets``: N split names) and, where the estimate has them,
    the AUC of low consistency and the mean interval width.

    ``scores`` needs ``clipmem``, ``clipmem_raw`` and a boolean ``miscaptioned`` column, each (N,).
    """
    clipmem, raw, flags = scores["clipmem"], scores["clipmem_raw"], scores["miscaptioned"].bool()
    out: dict[str, Any] = {
        "clipmem_mean": float(clipmem.mean()),
        "clipmem_median": float(clipmem.median()),
        "clipmem_raw_mean": float(raw.mean()),
        "clipmem_raw_median": float(raw.median()),
        "num_candidates": int(len(clipmem)),
        "num_miscaptioned": int(flags.sum()),
    }
    if flags.any() and not flags.all():
        out["clipmem_mean_miscaptioned"] = float(clipmem[flags].mean())
        out["clipmem_mean_clean"] = float(clipmem[~flags].mean())
        out["clipmem_raw_mean_miscaptioned"] = float(raw[flags].mean())
        out["clipmem_raw_mean_clean"] = float(raw[~flags].mean())
        out["miscaption_auc"] = flag_auc(clipmem, flags)
        se, low, high = auc_interval(out["miscaption_auc"], int(flags.sum()), int((~flags).sum()))
        out.update({"miscaption_auc_se": se, "miscaption_auc_low": low, "miscaption_auc_high": high})
        if "consistency" in scores:
            out["consistency_miscaption_auc"] = flag_auc(-scores["consistency"], flags)
    if "clipmem_low" in scores:
        width = scores["clipmem_high"] - scores["clipmem_low"]
        out["clipmem_ci_width_mean"] = float(width.nanmean())
    if "atypical" in scores or "mislabeled" in scores:
        out.update(ground_truth_summary(scores))
    out.update(set_summary(raw, flags, sets))
    return out


def ground_truth_summary(scores: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Each kind of injected sample against the clean ones (neither wrong nor atypical): the AUC of the score with
    its Hanley–McNeil interval and the raw mean. ``mislabel``: pairs whose caption or label is wrong
    (``miscaptioned`` or ``mislabeled``); ``atypical``: pairs rendered in a rare style (docs/paradigms.md)."""
    raw = scores["clipmem_raw"]
    none = torch.zeros_like(raw, dtype=torch.bool)
    wrong = scores["miscaptioned"].bool() | scores.get("mislabeled", none).bool()
    atypical = scores.get("atypical", none).bool()
    clean = ~wrong & ~atypical
    out: dict[str, Any] = {"num_mislabel": int(wrong.sum()), "num_atypical": int(atypical.sum()),
                           "clipmem_raw_mean_neither": float(raw[clean].mean()) if clean.any() else float("nan")}
    for name, group in (("mislabel", wrong), ("atypical", atypical)):
        if not group.any() or not clean.any():
            continue
        keep = group | clean
        auc = flag_auc(raw[keep], group[keep])
        se, low, high = auc_interval(auc, int(group.sum()), int(clean.sum()))
        out.update({f"{name}_auc": auc, f"{name}_auc_se": se, f"{name}_auc_low": low, f"{name}_auc_high": high,
                    f"clipmem_raw_mean_{name}": float(raw[group].mean())})
    return out


def set_summary(raw: torch.Tensor, flags: torch.Tensor, sets: tuple[str, ...] | list[str] | None
                ) -> dict[str, Any]:
    """Per scored set (when there are several): its size, raw mean and mis-caption AUC."""
    names = sorted(set(sets or ()))
    out: dict[str, Any] = {}
    if len(names) < 2:
        return out
    for name in names:
        inside = torch.tensor([s == name for s in sets])
        out[f"num_scored_{name}"] = int(inside.sum())
        out[f"clipmem_raw_mean_{name}"] = float(raw[inside].mean())
        auc = flag_auc(raw[inside], flags[inside])
        if auc is not None:
            out[f"miscaption_auc_{name}"] = auc
    return out
