"""The audit's files: audit.csv (every pair, most suspicious first), report/most_suspicious.png, clean.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clipmem.audit.config import AuditConfig
from clipmem.audit.estimate import AuditResult, estimate_audit
from clipmem.audit.statistics import STATISTICS
from clipmem.data.experiment_data import ExperimentData
from clipmem.data.reference import reference_ids, reference_overlap
from clipmem.data.sources.base import features_of
from clipmem.data.splits.near_duplicates import HASHES_FILE, load_hashes, overlap
from clipmem.evaluation.auc import auc_interval, flag_auc
from clipmem.io import atomic_write
from clipmem.models.pretrained import LOCAL_DIR
from clipmem.plan.spec import Plan
from clipmem.reporting import plots, tracking
from clipmem.reporting.config import ReportConfig
from clipmem.rundir import RunDir
from clipmem.scoring.statistics import SampleStatistics

AUDIT_COLUMNS = ("sample_id", "key", "path", "caption", "block", "p_miscaptioned", "flagged", "suspicion",
                 "rank_joint", "rank_caption", "rank_image", "rank_by_familiarity", "consensus", "familiarity",
                 "familiarity_group", "familiarity_weight", "neighbours", "low_alignment", "low_fit", "clipscore",
                 "memorization", "memorization_low", "memorization_high", "consistency", "compared", "base_overlap",
                 "reference_overlap", "miscaptioned")
NUMERIC_COLUMNS = ("p_miscaptioned", "suspicion", "rank_joint", "rank_caption", "rank_image", "rank_by_familiarity",
                   "consensus", "familiarity", "familiarity_weight", "neighbours", "low_alignment", "low_fit",
                   "clipscore", "memorization", "memorization_low", "memorization_high", "consistency")


@dataclass(frozen=True)
class AuditRequest:
    """What the run knows about an audit before training: its ``config``, the data ``source`` (paths of the pairs,
    clean.csv's rows) and the ``base`` weights the models start from (``model.pretrained``; None: from scratch)."""

    config: AuditConfig
    source: Any
    base: str | None = None


@dataclass(frozen=True)
class AuditInputs:
    """What the audit reads besides the models' statistics: the data, the plan, the estimator's ``scores`` (its
    memorization interval) and the request."""

    data: ExperimentData
    plan: Plan
    scores: dict[str, torch.Tensor]
    request: AuditRequest


def base_overlap(base: str | None, data: ExperimentData, ids: tuple[int, ...]) -> list[str]:
    """Per audited pair: whether the base model's training data holds its image (``exact``/``near``), ``""`` where it
    does not or there is no base, ``unknown`` where the base records no hashes of its training images (open_clip
    tags, checkpoint files, models saved before clipmem recorded them)."""
    if not base:
        return [""] * len(ids)
    text = str(base).strip()
    hashes_file = Path(text[len(LOCAL_DIR):]).expanduser() / HASHES_FILE if text.startswith(LOCAL_DIR) else None
    audited = data.hashes_of(ids)
    if hashes_file is None or not hashes_file.is_file() or audited is None:
        return ["unknown"] * len(ids)
    return overlap(audited, load_hashes(hashes_file))


def locations(source: Any, sample_ids: list[int]) -> list[str]:
    """Each pair's image as its source names it (a CSV's image column, as written there), or "" where the source
    does not say (``image_locations``)."""
    found = source.image_locations() if features_of(source).image_locations else {}
    return [found.get(sid, "") for sid in sample_ids]


def _number(value: float) -> str:
    return repr(float(value))


def audit_rows(inputs: AuditInputs, result: AuditResult, seen_in_reference: list[str]) -> list[dict[str, Any]]:
    """One row per audited pair, most suspicious first; ``seen_in_reference``: per audited pair (plan order) whether
    a reference pair shows its image (``reference_overlap``)."""
    ids = list(inputs.plan.scored_ids)
    keys = dict(zip(inputs.data.table.sample_ids.tolist(), inputs.data.table.keys or [], strict=False))
    paths = locations(inputs.request.source, ids)
    pairs = inputs.data.pairs_of(ids)
    scores, stats = inputs.scores, result.statistics
    rows = []
    for i in torch.argsort(result.suspicion, descending=True, stable=True).tolist():
        rows.append({
            "sample_id": str(ids[i]), "key": keys.get(ids[i], str(ids[i])), "path": paths[i],
            "caption": pairs.captions[i][0], "block": int(result.block[i]),
            "p_miscaptioned": _number(result.probability[i]), "flagged": int(result.flagged[i]),
            "suspicion": _number(result.suspicion[i]),
            **{name: _number(stats[name][i]) for name in ("rank_joint", "rank_caption", "rank_image",
                                                          "rank_by_familiarity", "consensus", "familiarity",
                                                          "familiarity_weight", "neighbours", "low_alignment",
                                                          "low_fit", "clipscore", "memorization")},
            "familiarity_group": int(stats["familiarity_group"][i]),
            "memorization_low": _number(scores["clipmem_low"][i]),
            "memorization_high": _number(scores["clipmem_high"][i]),
            "consistency": _number(scores["consistency"][i]), "compared": int(stats["compared"][i]),
            "base_overlap": result.overlap[i], "reference_overlap": seen_in_reference[i],
            "miscaptioned": int(pairs.miscaptioned[i]),
        })
    return rows


def _write_csv(path: Path, fieldnames: list[str] | tuple[str, ...], rows: list[dict], sep: str = ",",
               line_end: str = "\r\n") -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(fieldnames), delimiter=sep, extrasaction="ignore",
                                    lineterminator=line_end)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def write_clean(source: Any, flagged_ids: set[int], audited_ids: set[int], path: Path) -> int:
    """The source CSV's rows that were audited and not flagged, same columns, separator, line ending and order; rows
    the audit never scored (skipped as bad or duplicate) are left out too. Returns the rows kept."""
    header, by_id, rows = source.rows_by_id()
    keep = {id(by_id[sid]) for sid in audited_ids - flagged_ids if sid in by_id}
    kept = [row for row in rows if id(row) in keep]
    _write_csv(path, header, kept, sep=source.delimiter(), line_end=source.line_end())
    return len(kept)


def reference_metrics(data: ExperimentData, seen_in_reference: list[str]) -> dict[str, int]:
    """With reference pairs (``data.reference_path``): how many, and how many audited images they show."""
    count = len(reference_ids(data.table))
    if not count:
        return {}
    return {"audit_reference_pairs": count,
            "audit_reference_overlap": sum(o in ("exact", "near") for o in seen_in_reference)}


def injected_metrics(result: AuditResult, miscaptioned: torch.Tensor) -> dict[str, float]:
    """Where mis-captions were injected: every statistic's AUC (the suspicion's with its Hanley–McNeil interval),
    the flag's precision and recall, and the injected count beside the estimate."""
    if not miscaptioned.any() or miscaptioned.all():
        return {}
    out: dict[str, float] = {f"audit_auc_{name}": flag_auc(result.statistics[name], miscaptioned)
                             for name in STATISTICS}
    auc = flag_auc(result.suspicion, miscaptioned)
    positives, negatives = int(miscaptioned.sum()), int((~miscaptioned).sum())
    _, low, high = auc_interval(auc, positives, negatives)
    hits = int((result.flagged & miscaptioned).sum())
    out.update({"audit_auc": auc, "audit_auc_low": low, "audit_auc_high": high, "audit_injected_wrong": positives,
                "audit_flag_precision": hits / max(int(result.flagged.sum()), 1),
                "audit_flag_recall": hits / positives})
    return out


def short_path(path: str, width: int = 36) -> str:
    """``path`` as a gallery panel shows it: whole when at most ``width`` characters, else ``…/`` and as many of its
    last components as fit (at least the file name)."""
    if len(path) <= width:
        return path
    parts = path.replace("\\", "/").split("/")
    shown = parts[-1]
    for part in reversed(parts[:-1]):
        if len(part) + len(shown) + 3 > width:
            break
        shown = f"{part}/{shown}"
    return f"…/{shown}"


def write_gallery(run: RunDir, inputs: AuditInputs, result: AuditResult, rows: list[dict], size: int) -> Path:
    """report/most_suspicious.png: the ``size`` most suspicious pairs with their row of audit.csv, path (or key),
    caption and probability of a wrong caption."""
    ids = list(inputs.plan.scored_ids)
    top = torch.argsort(result.suspicion, descending=True, stable=True)[:size]
    pairs = inputs.data.pairs_of([ids[int(i)] for i in top])
    labels = [f"#{k} {short_path(row['path']) if row['path'] else row['key']}\n{row['caption']}"
              for k, row in enumerate(rows[:size], start=1)]
    gallery = plots.Gallery(pairs.images, labels, result.probability[top].float(), pairs.miscaptioned)
    bound = "; the count ran to 0, so every probability is 0: read the order" if result.estimate_at_bound() else ""
    return plots.plot_gallery(gallery, run.report_file("most_suspicious"),
                              f"Most suspicious pairs ({result.statistic}; #row of audit.csv; number: probability of "
                              f"a wrong caption{bound})")


def log_audit(loggers: list, run: RunDir, inputs: AuditInputs, rows: list[dict], gallery: Path,
              report: ReportConfig) -> None:
    """Into each W&B run: the most suspicious pairs as a table with their images (most suspicious first, numbers as
    numbers, ids as text), the gallery, and audit.csv as an artifact."""
    if not tracking.wandb_runs(loggers):
        return
    top = rows[: report.table_rows(len(rows))]
    images = inputs.data.pairs_of([int(row["sample_id"]) for row in top]).images
    typed = [{k: (float(v) if k in NUMERIC_COLUMNS else v) for k, v in row.items()} for row in top]
    import wandb

    for wandb_run in tracking.wandb_runs(loggers):
        wandb_run.log({"audit/most_suspicious": tracking.ranked_table(typed, images, report.wandb_image_size,
                                                                      flags=("flagged", "miscaptioned")),
                       "audit/gallery": wandb.Image(str(gallery))})
    tracking.log_file(loggers, run.audit, "audit", "audit")


def write_audit(run: RunDir, inputs: AuditInputs, stats: dict[str, SampleStatistics], report: ReportConfig,
                loggers: list) -> dict[str, Any]:
    """audit.csv, the gallery and (``write_clean``) clean.csv, logged to W&B; returns the audit's metrics."""
    config = inputs.request.config
    overlap = base_overlap(inputs.request.base, inputs.data, inputs.plan.scored_ids)
    result = estimate_audit([stats[spec.name] for spec in inputs.plan.specs], inputs.plan, config, overlap)
    seen_in_reference = reference_overlap(inputs.data, inputs.plan.scored_ids)
    rows = audit_rows(inputs, result, seen_in_reference)
    _write_csv(run.audit, AUDIT_COLUMNS, rows)
    gallery = write_gallery(run, inputs, result, rows, report.gallery_size)
    log_audit(loggers, run, inputs, rows, gallery, report)
    miscaptioned = inputs.data.pairs_of(inputs.plan.scored_ids).miscaptioned
    metrics = {**result.metrics(), **injected_metrics(result, miscaptioned), **reference_metrics(inputs.data,
                                                                                                 seen_in_reference)}
    if config.write_clean:  # the settings checked that the source is a CSV
        ids = inputs.plan.scored_ids
        flagged_ids = {ids[i] for i in result.flagged.nonzero().flatten().tolist()}
        metrics["audit_clean_rows"] = write_clean(inputs.request.source, flagged_ids, set(ids), run.clean)
    return metrics
