"""From a plan's estimate to the run's results: scores.csv, metrics.json, report/ and the tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Estimate:
    """What a design's estimate hands to the results: ``scores`` (the estimator's (N,) columns with ``sample_id``),
    ``utility`` (model name -> its metrics), the CLIPMem ``history`` over training, ``extra`` metrics and ``sets``
    (the split each scored sample comes from)."""

    scores: dict[str, torch.Tensor]
    utility: dict[str, dict[str, float]]
    history: list[dict] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RankedPairs:
    """The scored pairs for the tracker: scores.csv's ``rows``, their ``order`` (positions, most memorized first),
    ``sample_ids`` (N,), ``images`` uint8 (N, 3, H, W) in the order of ``sample_ids``, and the ``models`` that
    scored them."""

    rows: list[dict]
    order: torch.Tensor
    sample_ids: torch.Tensor
    images: torch.Tensor
    models: tuple[str, ...]


def write_results(run: RunDir, data: ExperimentData, estimate: Estimate, report: ReportConfig, loggers: list
                  ) -> dict[str, Any]:
    """Write scores.csv, report/ PNGs, log to the trackers and (last) metrics.json. Returns the metrics."""
    pairs = data.pairs_of(tuple(int(i) for i in estimate.scores["sample_id"].tolist()))
    scores = {**estimate.scores, "miscaptioned": pairs.miscaptioned,
              **{key: getattr(pairs, key) for key in GROUND_TRUTH_COLUMNS if bool(getattr(pairs, key).any())}}
    rows = score_rows(scores, pairs.captions, pairs.caption_source, estimate.sets)
    write_scores(run.scores, rows)
    metrics: dict[str, Any] = {**score_summary(scores, estimate.sets), **data.manifest.removal_counts(),
                               **estimate.extra, **model_metrics(estimate.utility, data)}
    order = torch.argsort(scores["clipmem"], descending=True)  # most memorized first
    if estimate.history:
        metrics["clipmem_history"] = estimate.history
    report_paths = write_report(run, scores, order, pairs, metrics, report)
    ranked = RankedPairs(rows, order, scores["sample_id"], pairs.images, tuple(estimate.utility))
    log_to_trackers(run, loggers, metrics, report_paths, ranked, report)
    atomic_write_json(run.metrics, metrics)
    return metrics


def log_to_trackers(run: RunDir, loggers: list, metrics: dict[str, Any], report_paths: dict[str, Path | None],
                    ranked: RankedPairs, report: ReportConfig) -> None:
    """The W&B side of the results: summary, plots, the table of the ``report.wandb_table_size`` most memorized
    pairs, scores.csv and, with ``report.wandb_models``, each model folder as artifacts."""
    if not tracking.wandb_runs(loggers):
        return
    top = ranked.order[: report.table_rows(len(ranked.order))]
    by_id = {row["sample_id"]: row for row in ranked.rows}
    tracking.log_results(loggers, metrics, report_paths, [by_id[int(ranked.sample_ids[i])] for i in top],
                         ranked.images[top], report.wandb_image_size)
    tracking.log_file(loggers, run.scores, "scores", "scores")
    for name in ranked.models if report.wandb_models else ():
        if run.model(name).is_dir():
            tracking.log_file(loggers, run.model(name), f"model-{name}", "model")


def write_report(run: RunDir, scores: dict[str, torch.Tensor], order: torch.Tensor, pairs, metrics: dict[str, Any],
                 report: ReportConfig) -> dict[str, Path | None]:
    """report/: the score histogram by group, most/least memorized galleries and the CLIPMem curve (from
    ``metrics["clipmem_history"]``)."""
    primary = [c[0] for c in pairs.captions]
    paths: dict[str, Path | None] = {
        "histogram": plots.plot_histogram(scores["clipmem"], scores["miscaptioned"], run.report_file("histogram"),
                                          metrics.get("miscaption_auc"), scores.get("atypical")),
    }
    size = report.gallery_size
    for name, picked in (("most_memorized", order[:size]), ("least_memorized", order.flip(0)[:size])):
        gallery = plots.Gallery(pairs.images[picked], [primary[int(i)] for i in picked], scores["clipmem"][picked],
                                scores["miscaptioned"][picked],
                                None if "atypical" not in scores else scores["atypical"][picked])
        paths[name] = plots.plot_gallery(gallery, run.report_file(name),
                                         f"{name.replace('_', ' ').capitalize()} candidate pairs (CLIPMem)")
    paths["clipmem_curve"] = plots.plot_curve(metrics.get("clipmem_history") or [], run.report_file("clipmem_curve"))
    return paths
