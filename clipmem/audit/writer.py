"""The audit's files: audit.csv (every pair, most suspicious first), report/most_suspicious.png, clean.csv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from clipmem.audit.config import AuditConfig
from clipmem.audit.statistics import flag, suspicion_statistics
from clipmem.data.experiment_data import ExperimentData
from clipmem.evaluation.auc import flag_auc
from clipmem.io import atomic_write
from clipmem.plan.spec import Plan
from clipmem.reporting import plots
from clipmem.rundir import RunDir
from clipmem.scoring.statistics import SampleStatistics

AUDIT_COLUMNS = ("sample_id", "key", "caption", "role", "memorization", "memorization_low", "memorization_high",
                 "consistency", "suspicion", "flagged", "miscaptioned")


def _stack(plan: Plan, stats: dict[str, SampleStatistics], field: str) -> torch.Tensor:
    return torch.stack([getattr(stats[spec.name], field) for spec in plan.specs])


def _key_of(data: ExperimentData) -> dict[int, str]:
    if data.table.keys is None:
        return {}
    return dict(zip(data.table.sample_ids.tolist(), data.table.keys, strict=True))


def audit_rows(data: ExperimentData, plan: Plan, scores: dict[str, torch.Tensor], suspicion: torch.Tensor,
               flagged: torch.Tensor) -> list[dict[str, Any]]:
    """One row per audited pair (most suspicious first), then one per held-out pair (S_E: not scored)."""
    keys, rows = _key_of(data), []
    pairs = data.pairs_of(plan.scored_ids)
    for i in torch.argsort(suspicion, descending=True).tolist():
        sid = plan.scored_ids[i]
        rows.append({"sample_id": sid, "key": keys.get(sid, str(sid)), "caption": pairs.captions[i][0],
                     "role": "audited", "memorization": repr(float(scores["clipmem_raw"][i])),
                     "memorization_low": repr(float(scores["clipmem_low"][i])),
                     "memorization_high": repr(float(scores["clipmem_high"][i])),
                     "consistency": repr(float(scores["consistency"][i])), "suspicion": repr(float(suspicion[i])),
                     "flagged": int(flagged[i]), "miscaptioned": int(pairs.miscaptioned[i])})
    held = data.pairs("extra")
    for i, sid in enumerate(held.sample_ids.tolist()):
        rows.append({"sample_id": sid, "key": keys.get(sid, str(sid)), "caption": held.captions[i][0],
                     "role": "held_out", "flagged": 0, "miscaptioned": int(held.miscaptioned[i])})
    return rows


def _write_csv(path: Path, fieldnames: list[str] | tuple[str, ...], rows: list[dict], sep: str = ",") -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(fieldnames), delimiter=sep, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def write_clean(source: Any, flagged_ids: set[int], path: Path) -> int:
    """The source CSV's rows minus the flagged pairs, same columns and separator; returns the rows kept."""
    header, by_id, rows = source.rows_by_id()
    dropped = {id(by_id[sid]) for sid in flagged_ids if sid in by_id}
    kept = [row for row in rows if id(row) not in dropped]
    _write_csv(path, header, kept, sep=source.delimiter() if hasattr(source, "delimiter") else ",")
    return len(kept)


def audit_metrics(statistics: dict[str, torch.Tensor], flagged: torch.Tensor, miscaptioned: torch.Tensor
                  ) -> dict[str, float]:
    """How many were flagged and, where mis-captions were injected, each statistic's AUC and the flag's
    precision and recall."""
    out: dict[str, float] = {"audit_num_flagged": int(flagged.sum())}
    if not miscaptioned.any() or miscaptioned.all():
        return out
    for name, values in statistics.items():
        out[f"audit_auc_{name}"] = flag_auc(values, miscaptioned)
    hits = int((flagged & miscaptioned).sum())
    out["audit_flag_precision"] = hits / max(int(flagged.sum()), 1)
    out["audit_flag_recall"] = hits / int(miscaptioned.sum())
    return out


def write_audit(run: RunDir, data: ExperimentData, plan: Plan, stats: dict[str, SampleStatistics],
                scores: dict[str, torch.Tensor], config: AuditConfig, source: Any, gallery_size: int
                ) -> dict[str, Any]:
    """audit.csv, the gallery of the most suspicious pairs and (``write_clean``) clean.csv; returns metrics."""
    statistics = suspicion_statistics(_stack(plan, stats, "align"), _stack(plan, stats, "contrast"),
                                      plan.membership())
    suspicion = statistics[config.statistic]
    flagged = flag(suspicion, config.threshold)
    _write_csv(run.audit, AUDIT_COLUMNS, audit_rows(data, plan, scores, suspicion, flagged))
    pairs = data.pairs_of(plan.scored_ids)
    top = torch.argsort(suspicion, descending=True)[:gallery_size]
    plots.plot_gallery(pairs.images[top], [pairs.captions[int(i)][0] for i in top], suspicion[top].float(),
                       pairs.miscaptioned[top], run.report_file("most_suspicious"),
                       f"Most suspicious pairs ({config.statistic})")
    metrics = {"audit_statistic": config.statistic, "audit_threshold": float(config.threshold),
               **audit_metrics(statistics, flagged, pairs.miscaptioned)}
    if config.write_clean:  # the settings checked that the source is a CSV
        flagged_ids = {plan.scored_ids[i] for i in flagged.nonzero().flatten().tolist()}
        metrics["audit_clean_rows"] = write_clean(source, flagged_ids, run.clean)
    return metrics

