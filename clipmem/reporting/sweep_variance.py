"""sweep_variance.csv/.md: for a sweep over both ``data.split_seed`` and ``seed``, each metric's variance split
into the part between data splits and the part between training seeds (``clipmem.reporting.variance``;
docs/sweeps.md, "Splits against seeds")."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from clipmem.reporting.intervals import metric_kind
from clipmem.reporting.sweep_settings import SEED_KEYS, display_scale, interval_cell, metric_header, metric_names
from clipmem.reporting.tables import decimals
from clipmem.reporting.variance import VarianceSplit, split_variance

if TYPE_CHECKING:
    from clipmem.reporting.sweep_jobs import JobRecord

SPLIT_KEYS = ("data.split_seed",)
VARIANCE_COLUMNS = ("setting", "metric", "splits", "runs", "mean", "mean_low", "mean_high", "sd_split", "sd_seed",
                    "split_share", "split_share_low", "split_share_high", "p_split")


def split_groups(records: list[JobRecord], keys: list[str]) -> dict[str, list[list[JobRecord]]]:
    """Setting label (the swept overrides but seed and split) -> the complete jobs of each split, for the settings
    that have ≥ 2 splits with ≥ 2 seeds each; empty when the sweep does not vary the split."""
    split_key = next((k for k in keys if k in SPLIT_KEYS), None)
    if split_key is None:
        return {}
    others = [k for k in keys if k not in SEED_KEYS and k != split_key]
    groups: dict[str, dict[str, list[JobRecord]]] = {}
    for record in records:
        if record.state == "complete":
            label = " ".join(f"{k}={record.overrides.get(k, '')}" for k in others) or "all"
            groups.setdefault(label, {}).setdefault(record.overrides.get(split_key, ""), []).append(record)
    return {label: list(by_split.values()) for label, by_split in groups.items()
            if len(by_split) >= 2 and all(len(jobs) >= 2 for jobs in by_split.values())}


def variance_results(records: list[JobRecord], keys: list[str]) -> list[tuple[str, str, VarianceSplit]]:
    """(setting, metric, decomposition) for every metric that every job of the setting has."""
    out = []
    for label, by_split in split_groups(records, keys).items():
        members = [r for jobs in by_split for r in jobs]
        for metric in metric_names(members):
            if all(metric in r.metrics for r in members):
                groups = [[float(r.metrics[metric]) for r in jobs] for jobs in by_split]
                out.append((label, metric, split_variance(groups, metric_kind(metric))))
    return out


def variance_rows(results: list[tuple[str, str, VarianceSplit]]) -> list[dict[str, Any]]:
    """The CSV rows (accuracies as fractions in [0, 1], as in sweep_settings.csv)."""
    return [{"setting": label, "metric": metric, "splits": v.splits, "runs": v.runs, "mean": v.mean.mean,
             "mean_low": v.mean.low, "mean_high": v.mean.high, "sd_split": v.sd_split, "sd_seed": v.sd_seed,
             "split_share": v.split_share, "split_share_low": v.share_low, "split_share_high": v.share_high,
             "p_split": v.p_split} for label, metric, v in results]


def _share(v: VarianceSplit) -> str:
    if math.isnan(v.split_share):
        return "–"
    return f"{v.split_share:.2f} [{v.share_low:.2f}, {v.share_high:.2f}]"


def variance_markdown(results: list[tuple[str, str, VarianceSplit]]) -> str:
    """Markdown: per setting and metric, the mean over every run with its interval over the split means, the
    standard deviations between splits and between seeds, and the split's share of the variance."""
    body = []
    for label, metric, v in results:
        scale = display_scale(metric)
        digits = 1 if scale == 100.0 else decimals(max(v.sd_seed, v.sd_split, 1e-12))
        body.append([label, metric_header(metric), f"{v.splits} × {v.seeds[0]}" if len(set(v.seeds)) == 1 else
                     f"{v.splits} ({v.runs} runs)", interval_cell(metric, v.mean), f"{scale * v.sd_split:.{digits}f}",
                     f"{scale * v.sd_seed:.{digits}f}", _share(v), f"{v.p_split:.3f}"])
    note = ("Each metric over data splits × training seeds (one-way random-effects ANOVA, seeds nested in splits): "
            "the mean over every run [95 % t-interval over the split means; logit scale for AUCs and accuracies], "
            "the standard deviation between splits and between seeds within a split (accuracies in percentage "
            "points), the splits' share of the variance [95 % F interval] and the F test's p-value of no split "
            "effect.\n\n")
    return note + tabulate(body, ["setting", "metric", "splits × seeds", "mean", "sd split", "sd seed",
                                  "split share", "p (split)"], tablefmt="github", disable_numparse=True) + "\n"
