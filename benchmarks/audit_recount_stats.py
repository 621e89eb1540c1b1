"""The over-runs statistics of benchmarks/audit_recount.py: per data set and pooled, the mean paired difference of
two estimators' errors and the count's and the flags' bias, each with a 95 % t-interval over runs."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats


def paired(rows: list[dict]) -> list[dict]:
    """Per data set and pooled: mean paired differences (the count among familiar pairs minus the mixture, and minus
    the count among familiar captions, ``caption_region``) of the count's error |log(estimated / injected)| and of
    the flags' |predicted − measured precision|, and of the latter, the flags' measured recall and their measured
    precision with and without ``familiarity_weight``, with 95 % t-intervals over runs (errors: negative when the
    audit's estimator errs less); and the count's bias: its geometric mean ratio to the injected count, and the
    flags' mean predicted − measured precision."""
    out = []
    for data in [*sorted({r["data"] for r in rows}), "all"]:
        mine = [r for r in rows if data in ("all", r["data"])]
        count = [log_error(r["ratio"]) - log_error(r["mixture_ratio"]) for r in mine]
        precision = [precision_error(r) - precision_error(r, "mixture_") for r in mine]
        weighted = [precision_error(r) - precision_error(r, "unweighted_") for r in mine]
        recall = [r["flag_recall"] - r["unweighted_flag_recall"] for r in mine]
        measured = [r["measured_precision"] - r["unweighted_measured_precision"] for r in mine]
        region = [log_error(r["ratio"]) - log_error(r["caption_region_ratio"]) for r in mine]
        region_precision = [precision_error(r) - precision_error(r, "caption_region_") for r in mine]
        out.append({"data": data, "runs": len(mine), **ratio_interval("count_ratio", [r["ratio"] for r in mine]),
                    **interval("precision_bias", [r["predicted_precision"] - r["measured_precision"] for r in mine], 1),
                    **interval("count_error_difference", count),
                    **interval("region_count_error_difference", region),
                    **interval("region_precision_error_difference", region_precision, 1),
                    **interval("precision_error_difference", precision, 1),
                    **interval("weights_precision_error_difference", weighted, 1),
                    **interval("weights_recall_difference", recall, 1),
                    **interval("weights_measured_precision_difference", measured, 1)})
    return out


def ratio_interval(name: str, ratios: list[float]) -> dict:
    """``interval`` of log ``ratios`` taken back by exp: the geometric mean and an interval that stays above 0 (a
    ratio of 0 has no log: left out and counted)."""
    found = interval(name, [math.log(r) if r > 0 else math.nan for r in ratios])
    return {k: round(math.exp(v), 3) if k != f"{name}_left_out" and math.isfinite(v) else v for k, v in found.items()}


def log_error(ratio: float) -> float:
    """|log(estimated / injected)|: infinite for a count of 0 (a difference with it is left out of a mean and counted),
    NaN where there was no count."""
    return math.nan if math.isnan(ratio) else abs(math.log(ratio)) if ratio > 0 else math.inf


def precision_error(row: dict, tag: str = "") -> float:
    """|predicted − measured precision| of a row's flags (``tag``: another estimator's columns)."""
    return abs(row[f"{tag}predicted_precision"] - row[f"{tag}measured_precision"])


def interval(name: str, values: list[float], bound: float = math.inf) -> dict:
    """``name``: mean [low, high] of ``values`` (95 % t-interval, kept inside [−``bound``, ``bound``]: 1 for
    differences of shares; a mixture count of 0 is an infinite error, kept out of the mean and counted)."""
    finite = np.array([v for v in values if math.isfinite(v) and not math.isnan(v)])
    if len(finite) < 2:
        return {name: float("nan"), f"{name}_low": float("nan"), f"{name}_high": float("nan")}
    half = scipy_stats.t.ppf(0.975, len(finite) - 1) * finite.std(ddof=1) / math.sqrt(len(finite))
    low, high = max(float(finite.mean() - half), -bound), min(float(finite.mean() + half), bound)
    return {name: round(float(finite.mean()), 3), f"{name}_low": round(low, 3), f"{name}_high": round(high, 3),
            f"{name}_left_out": len(values) - len(finite)}
