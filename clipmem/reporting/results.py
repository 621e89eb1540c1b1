"""From a plan's estimate to the run's results: scores.csv, metrics.json, report/ and the tracker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from clipmem.data.experiment_data import ExperimentData
from clipmem.evaluation.utility import flat_metrics
from clipmem.io import atomic_write_json
from clipmem.reporting import plots, tracking
from clipmem.reporting.config import ReportConfig
from clipmem.reporting.scores_csv import GROUND_TRUTH_COLUMNS, score_rows, write_scores
from clipmem.rundir import RunDir
from clipmem.scoring.estimators import score_summary


def model_metrics(utility: dict[str, dict[str, float]], data: ExperimentData) -> dict[str, float]:
    """Every model's utility under metrics.json names (``evaluation.utility.flat_metrics``), and with more
    than two models also their mean (suffix ``_mean``)."""
    headline = next(iter(data.zeroshot), None)
    out: dict[str, float] = {}
    for name, values in utility.items():
        out.update(flat_metrics(values, name, headline))
    if len(utility) > 2:
        keys = set.intersection(*(set(values) for values in utility.values()))
        means = {key: sum(values[key] for values in utility.values()) / len(utility) for key in sorted(keys)}
        out.update(flat_metrics(means, "mean", headline))
    return out


def write_results(run: RunDir, data: ExperimentData, scores: dict[str, torch.Tensor],
                  utility: dict[str, dict[str, float]], report: ReportConfig, loggers: list,
                  history: list[dict] | None = None, extra_metrics: dict[str, Any] | None = None,
                  sets: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Write scores.csv, report/ PNGs, log to the trackers and (last) metrics.json. Returns the metrics.

    ``scores``: the estimator's (N,) columns with ``sample_id``; ``utility``: model name -> its metrics;
    ``sets``: the split each scored sample comes from.
    """
    pairs = data.pairs_of(tuple(int(i) for i in scores["sample_id"].tolist()))
    scores = {**scores, "miscaptioned": pairs.miscaptioned,
              **{key: getattr(pairs, key) for key in GROUND_TRUTH_COLUMNS if bool(getattr(pairs, key).any())}}
    rows = score_rows(scores, pairs.captions, pairs.caption_source, sets)
    write_scores(run.scores, rows)
    metrics: dict[str, Any] = {**score_summary(scores, sets), **data.manifest.removal_counts(), **(extra_metrics or {}),
                               **model_metrics(utility, data)}
    order = torch.argsort(scores["clipmem"], descending=True)  # most memorized first
    report_paths = write_report(run, scores, order, pairs, metrics, report, history)
    if history:
        metrics["clipmem_history"] = history
    log_to_trackers(run, loggers, metrics, report_paths, rows, order, scores["sample_id"], pairs.images, report,
                    list(utility))
    atomic_write_json(run.metrics, metrics)
    return metrics


def log_to_trackers(run: RunDir, loggers: list, metrics: dict[str, Any], report_paths: dict[str, Path | None],
                    rows: list[dict], order: torch.Tensor, sample_ids: torch.Tensor, images: torch.Tensor,
                    report: ReportConfig, models: list[str]) -> None:
    """The W&B side of the results: summary, plots, the table of the ``report.wandb_table_size`` most memorized
    pairs (``order``: positions, most memorized first), scores.csv and, with ``report.wandb_models``, each model
    folder as artifacts. ``images``: uint8 (N, 3, H, W) in the order of ``sample_ids``."""
    if not tracking.wandb_runs(loggers):
        return
    top = order[: report.table_rows(len(order))]
    by_id = {row["sample_id"]: row for row in rows}
    tracking.log_results(loggers, metrics, report_paths, [by_id[int(sample_ids[i])] for i in top], images[top],
                         report.wandb_image_size)
    tracking.log_file(loggers, run.scores, "scores", "scores")
    for name in models if report.wandb_models else ():
        if run.model(name).is_dir():
            tracking.log_file(loggers, run.model(name), f"model-{name}", "model")


def write_report(run: RunDir, scores: dict[str, torch.Tensor], order: torch.Tensor, pairs, metrics: dict[str, Any],
                 report: ReportConfig, history: list[dict] | None) -> dict[str, Path | None]:
    """report/: the score histogram by group, most/least memorized galleries and the CLIPMem curve."""
    primary = [c[0] for c in pairs.captions]
    paths: dict[str, Path | None] = {
        "histogram": plots.plot_histogram(scores["clipmem"], scores["miscaptioned"], run.report_file("histogram"),
                                          metrics.get("miscaption_auc"), scores.get("atypical")),
    }
    size = report.gallery_size
    for name, picked in (("most_memorized", order[:size]), ("least_memorized", order.flip(0)[:size])):
        paths[name] = plots.plot_gallery(
            pairs.images[picked], [primary[int(i)] for i in picked], scores["clipmem"][picked],
            scores["miscaptioned"][picked], run.report_file(name),
            f"{name.replace('_', ' ').capitalize()} candidate pairs (CLIPMem)",
            None if "atypical" not in scores else scores["atypical"][picked],
        )
    paths["clipmem_curve"] = plots.plot_curve(history or [], run.report_file("clipmem_curve"))
    return paths
