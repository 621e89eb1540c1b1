"""A hyper-parameter search's own tables (``hparams_search=optuna``): every trial with its parameters and objective,
best first, and the best trial's config; per-setting summaries and paired differences mean nothing for a search."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from tabulate import tabulate

from clipmem.io import atomic_write_csv, atomic_write_text

if TYPE_CHECKING:
    from clipmem.reporting.sweep_jobs import JobRecord

RESULTS = "optimization_results.yaml"  # what Hydra's Optuna sweeper writes into the sweep directory


def _value(record: JobRecord) -> float:
    value = record.metrics.get(record.objective)
    return float(value) if isinstance(value, int | float) and record.state == "complete" else math.nan


def trial_rows(records: list[JobRecord], keys: list[str], minimize: bool) -> list[dict[str, Any]]:
    """One row per trial, best first (failed trials last): job, searched parameters, objective, status."""
    def order(record: JobRecord) -> tuple[bool, float]:
        value = _value(record)
        return (value != value, value if minimize else -value)

    return [{"job": r.job, **{k: r.overrides.get(k, "") for k in keys}, "objective": r.objective,
             "value": _value(r), "status": r.state} for r in sorted(records, key=order)]


def write_trials(sweep_dir: Path, records: list[JobRecord], keys: list[str], header: str) -> Path:
    """trials.csv and trials.md, and best_config.yaml (the best trial's composed config); returns trials.md."""
    results = yaml.safe_load((sweep_dir / RESULTS).read_text()) if (sweep_dir / RESULTS).is_file() else {}
    values = [_value(r) for r in records if _value(r) == _value(r)]
    best_value = results.get("best_value")
    minimize = bool(values) and best_value is not None and math.isclose(float(best_value), min(values))
    rows = trial_rows(records, keys, minimize)
    columns = ["job", *keys, "objective", "value", "status"]
    atomic_write_csv(sweep_dir / "trials.csv", rows, columns)
    body = [[row[c] if not isinstance(row[c], float) else f"{row[c]:.6g}" for c in columns] for row in rows]
    goal = "lowest" if minimize else "highest"
    text = (header + f"Trials of the search, best ({goal} `{records[0].objective if records else ''}`) first; "
            "`best_config.yaml` is the best trial's composed config.\n\n"
            + tabulate(body, columns, tablefmt="github", disable_numparse=True) + "\n")
    atomic_write_text(sweep_dir / "trials.md", text)
    best = next((r for r in records if rows and r.job == rows[0]["job"] and r.state == "complete"), None)
    if best is not None and (best.path / ".hydra" / "config.yaml").is_file():
        shutil.copyfile(best.path / ".hydra" / "config.yaml", sweep_dir / "best_config.yaml")
    return sweep_dir / "trials.md"
