"""From a trained f/g pair to the run's results: scores.csv, metrics.json, report/ and W&B."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from clipmem.callbacks.retrieval import extra_retrieval
from clipmem.data.datamodule import CLIPMemDataModule
from clipmem.data.text import build_tokenizer
from clipmem.evaluation.encode import encode_images, eval_mode
from clipmem.evaluation.linear_probe import probe_accuracy
from clipmem.evaluation.zeroshot import zeroshot_accuracy
from clipmem.io import atomic_write_json
from clipmem.reporting import plots, tracking
from clipmem.reporting.scores_csv import score_rows, write_scores
from clipmem.rundir import RunDir
from clipmem.scoring.pipeline import CandidateScorer, ScoringConfig, score_summary


def utility_metrics(model: torch.nn.Module, dm: CLIPMemDataModule, role: str, device: torch.device) -> dict[str, float]:
    """Zero-shot and linear-probe accuracy on each configured set and retrieval recall on S_E, suffixed
    ``_<role>``; the first set's numbers also appear without the set name (headline)."""
    out: dict[str, float] = {}
    tokenizer = build_tokenizer(dm.context_length)
    for index, (name, dataset) in enumerate(dm.zeroshot_sets().items()):
        with eval_mode(model):  # one encoding of the set serves zero-shot and the linear probe
            features = encode_images(model, dataset.images, dm.eval_transform, dm.eval_batch_size, device)
        accuracy = zeroshot_accuracy(model, tokenizer, dataset, dm.eval_transform, dm.eval_batch_size, device,
                                     features=features)
        for key, value in accuracy.items():
            out[f"zeroshot_{name}_{key}_{role}"] = value
            if index == 0:  # the first set is the headline number
                out[f"zeroshot_{key}_{role}"] = value
        probe = {"top1": probe_accuracy(features, dataset.labels, len(dataset.classnames))}
        for key, value in probe.items():
            out[f"linear_probe_{name}_{key}_{role}"] = value
            if index == 0:
                out[f"linear_probe_{key}_{role}"] = value
    out.update({f"retrieval_{key}_{role}": value for key, value in extra_retrieval(model, dm, device).items()})
    return out


def compute_results(
    run: RunDir,
    dm: CLIPMemDataModule,
    model_f: torch.nn.Module,
    model_g: torch.nn.Module,
    scoring: ScoringConfig,
    report_cfg: dict[str, Any],
    device: torch.device,
    logger=None,
    history: list[dict] | None = None,
    extra_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score S_C, measure utility, write scores.csv, report/ PNGs and (last) metrics.json. Returns metrics."""
    model_f.to(device)
    model_g.to(device)
    scorer = CandidateScorer(dm, scoring, device)
    scores = scorer.score(model_f, model_g)
    candidates = scorer.candidates
    rows = score_rows(scores, candidates["captions"], candidates["caption_source"])
    write_scores(run.scores, rows)

    metrics: dict[str, Any] = {**score_summary(scores), **(extra_metrics or {})}
    metrics.update(utility_metrics(model_f, dm, "f", device))
    metrics.update(utility_metrics(model_g, dm, "g", device))

    order = torch.argsort(scores["clipmem"], descending=True)  # most memorized first
    report_paths = _write_report(run, scores, order, candidates, metrics, report_cfg, history)
    if history:
        metrics["clipmem_history"] = history
    top = order[: int(report_cfg.get("wandb_table_size", 32))]
    by_id = {row["sample_id"]: row for row in rows}
    tracking.log_results(logger, metrics, report_paths,
                         [by_id[int(scores["sample_id"][i])] for i in top], candidates["images"][top])
    atomic_write_json(run.metrics, metrics)
    return metrics


def _write_report(run: RunDir, scores, order, candidates, metrics, report_cfg, history) -> dict[str, Path | None]:
    size = int(report_cfg.get("gallery_size", 12))
    primary = [c[0] for c in candidates["captions"]]
    paths: dict[str, Path | None] = {
        "histogram": plots.plot_histogram(scores["clipmem"], scores["miscaptioned"], run.report / "histogram.png",
                                          metrics.get("miscaption_auc")),
    }
    for name, picked in (("most_memorized", order[:size]), ("least_memorized", order.flip(0)[:size])):
        paths[name] = plots.plot_gallery(
            candidates["images"][picked], [primary[int(i)] for i in picked], scores["clipmem"][picked],
            scores["miscaptioned"][picked], run.report / f"{name}.png",
            f"{name.replace('_', ' ').capitalize()} candidate pairs (CLIPMem)",
        )
    paths["clipmem_curve"] = plots.plot_curve(history or [], run.report / "clipmem_curve.png")
    return paths
