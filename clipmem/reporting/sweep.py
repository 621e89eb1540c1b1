"""One table and a few plots for a whole Hydra multirun: `python evaluate.py sweep_dir=<multirun dir>`.

A sweep directory holds one run directory per job (``<sweep>/<job number>/``). Each job is read from its
``.hydra/overrides.yaml``, ``status.json``, ``metrics.json`` and ``scores.csv``; failed and unfinished
jobs stay in the table with their error, they are never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clipmem.errors import RunDirError
from clipmem.io import atomic_write_text
from clipmem.reporting.scores_csv import read_scores
from clipmem.reporting.search import write_trials
from clipmem.reporting.sweep_settings import (
    FAMILY_AUC_SUFFIXES,
    Setting,
    difference_rows,
    differences_markdown,
    group_settings,
    paired_differences,
    setting_rows,
    settings_markdown,
)
from clipmem.reporting.sweep_variance import VARIANCE_COLUMNS, variance_markdown, variance_results, variance_rows
from clipmem.reporting.tables import csv_text as _csv_text
from clipmem.reporting.tables import markdown_table
from clipmem.rundir import STATUS_NAME, RunDir

# Metric columns of the table, in order; a column appears only when some job has it.
METRIC_COLUMNS = (
    "clipmem_mean",
    "clipmem_median",
    "clipmem_raw_mean",
    "miscaption_auc",
    "zeroshot_top1_f",
    "zeroshot_top1_g",
    "linear_probe_top1_f",
    "linear_probe_top1_g",
    "retrieval_i2t_r5_f",
    "retrieval_t2i_r5_f",
    "val_loss_f",
    "num_removed_miscaptioned_candidate",
)


@dataclass
class JobRecord:
    """What one job of a sweep left behind."""

    job: str
    path: Path
    overrides: dict[str, str]
    state: str  # complete | failed | unfinished
    error: str = ""
    mitigation: str = "none"
    metrics: dict[str, Any] = field(default_factory=dict)
    wall_s: float | None = None  # training + scoring time of the job, from status.json
    scores: list[float] | None = None  # CLIPMem per candidate, from scores.csv
    objective: str = ""  # the job's optimized_metric (what train.py returned to the sweeper)


def _parse_overrides(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = str(line).partition("=")
        out[key.lstrip("+~")] = value if sep else ""
    return out


def mitigation_label(mitigation: dict[str, Any], default: str) -> str:
    """A job's mitigation name: the class's ``name`` (``_target_`` configs), the ``name`` key (older runs)."""
    if "name" in mitigation:
        return str(mitigation["name"])
    target = mitigation.get("_target_")
    if not target:
        return default
    try:
        from hydra.utils import get_class

        return str(get_class(target).name)
    except Exception:  # a class that cannot be imported here: its own name still labels the job
        return str(target).rsplit(".", 1)[-1]


def _read_clipmem(path: Path) -> list[float] | None:
    if not path.is_file():
        return None
    return [row["clipmem"] for row in read_scores(path)]


def read_job(job_dir: Path) -> JobRecord:
    """Read one job directory; never raises on a missing or broken file (that becomes the job's state)."""
    job_dir = Path(job_dir)
    run = RunDir(job_dir)
    overrides_file = run.overrides
    overrides = _parse_overrides(yaml.safe_load(overrides_file.read_text()) or []) if overrides_file.is_file() else {}
    mitigation = overrides.get("mitigation", "none")
    config_file = run.config
    if config_file.is_file():
        config = yaml.safe_load(config_file.read_text()) or {}
        mitigation = mitigation_label(config.get("mitigation") or {}, mitigation)
    objective = str(config.get("optimized_metric") or "") if config_file.is_file() else ""
    record = JobRecord(job=job_dir.name, path=job_dir, overrides=overrides, state="unfinished", mitigation=mitigation,
                       objective=objective)
    status_file = run.status
    try:
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    except json.JSONDecodeError as err:
        status = {"state": "unreadable", "error": f"{STATUS_NAME} is not valid JSON: {err}"}
    state = status.get("state")
    metrics_file = run.metrics
    if state == "complete" and metrics_file.is_file():
        try:
            record.metrics = json.loads(metrics_file.read_text())
            record.scores = _read_clipmem(run.scores)
        except (json.JSONDecodeError, KeyError, ValueError) as err:
            record.error = f"unreadable metrics.json or scores.csv: {type(err).__name__}: {err}"
            return record
        record.state = "complete"
        record.wall_s = status.get("wall_s")
    elif state == "failed":
        record.state = "failed"
        record.error = str(status.get("error", "failed (no error recorded)"))
    else:
        record.error = status.get("error") or (
            f"{STATUS_NAME} says {state!r} and there is no metrics.json" if state else f"no {STATUS_NAME}"
        )
    return record


def _job_order(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (1 << 30, path.name)


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep (children with a .hydra/ or status.json), in job-number order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise RunDirError(f"sweep directory {sweep_dir} does not exist")
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and ((p / ".hydra").is_dir() or (p / STATUS_NAME).is_file())]
    if not jobs:
        raise RunDirError(f"{sweep_dir} holds no job directories (<job>/.hydra or <job>/{STATUS_NAME}); "
                          "is it a multirun directory (outputs/<name>/multirun/<date>_<time>_<uuid>)?")
    return sorted(jobs, key=_job_order)


def swept_keys(records: list[JobRecord]) -> list[str]:
    """Override keys whose value differs between jobs (all keys when there is a single job), in order."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record.overrides if k not in keys]
    if len(records) < 2:
        return keys
    return [k for k in keys if len({r.overrides.get(k) for r in records}) > 1]


def setting_label(record: JobRecord, keys: list[str]) -> str:
    """A short label of a job's swept values, e.g. ``mitigation.sigma=0.1``."""
    parts = [f"{k}={record.overrides[k]}" for k in keys if k in record.overrides]
    return " ".join(parts) or f"job {record.job}"


def sweep_rows(records: list[JobRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """The tidy table: one row per job; columns job, swept overrides, status, metrics, error."""
    keys = swept_keys(records)
    families = list(dict.fromkeys(f for r in records for f in r.metrics.get("families") or []))
    wanted = [*METRIC_COLUMNS, *(f"{family}{suffix}" for family in families for suffix in FAMILY_AUC_SUFFIXES)]
    metrics = [m for m in wanted if any(m in r.metrics for r in records)]
    timed = any(r.wall_s is not None for r in records)
    columns = ["job", *keys, "mitigation", "status", *metrics, *(["wall_s"] if timed else []), "error"]
    rows = []
    for record in records:
        row: dict[str, Any] = {"job": record.job, "mitigation": record.mitigation, "status": record.state,
                               "wall_s": record.wall_s, "error": record.error}
        row.update({k: record.overrides.get(k, "") for k in keys})
        row.update({m: record.metrics.get(m) for m in metrics})
        rows.append(row)
    return columns, rows


def common_overrides(records: list[JobRecord], keys: list[str]) -> dict[str, str]:
    """Overrides every job shares (not swept): shown above the table."""
    if not records:
        return {}
    first = records[0].overrides
    return {k: v for k, v in first.items() if k not in keys and all(r.overrides.get(k) == v for r in records)}


def format_sweep_summary(sweep_dir: Path, records: list[JobRecord]) -> str:
    """Printed at the end: counts, and every job that did not complete with its error."""
    done = sum(r.state == "complete" for r in records)
    lines = [f"Sweep summary: {done} of {len(records)} jobs complete  ({sweep_dir})"]
    keys = swept_keys(records)
    for record in records:
        label = setting_label(record, keys)
        if record.state == "complete":
            value = record.metrics.get(record.objective)
            chosen = f"  {record.objective} {value:.4g}" if isinstance(value, int | float) and \
                record.objective != "clipmem_mean" else ""
            mean = record.metrics.get("clipmem_mean", record.metrics.get("clip_clipmem_mean"))  # families: CLIP's
            shown = f"  mean CLIPMem {mean:.3f}" if isinstance(mean, int | float) else ""
            lines.append(f"  job {record.job:>3}  complete    {label}{shown}{chosen}")
        else:
            lines.append(f"  job {record.job:>3}  {record.state:<10}  {label}  {record.error}")
    return "\n".join(lines)


@dataclass
class SweepReport:
    """Paths written by :func:`aggregate_sweep` and the records they came from."""

    records: list[JobRecord]
    table_csv: Path
    table_md: Path
    plots: dict[str, Path | None]
    settings: list[Setting] = field(default_factory=list)

    @property
    def failed(self) -> list[JobRecord]:
        return [r for r in self.records if r.state != "complete"]


def aggregate_sweep(sweep_dir: str | Path, search: bool = False) -> SweepReport:
    """Read every job of ``sweep_dir``; write sweep_results.csv/.md and the PNG plots into it; then either the
    settings with their paired differences, or (``search``: a hyper-parameter search) the trials table."""
    from clipmem.reporting import sweep_plots

    sweep_dir = Path(sweep_dir)
    records = [read_job(path) for path in find_jobs(sweep_dir)]
    columns, rows = sweep_rows(records)
    keys = swept_keys(records)
    table_csv = sweep_dir / "sweep_results.csv"
    atomic_write_text(table_csv, _csv_text(columns, rows))
    common = common_overrides(records, keys)
    header = f"# Sweep {sweep_dir.name}\n\n"
    if common:
        header += "Common overrides: `" + " ".join(f"{k}={v}" for k, v in common.items()) + "`\n\n"
    table_md = sweep_dir / "sweep_results.md"
    atomic_write_text(table_md, header + markdown_table(columns, rows))
    labels = [setting_label(r, keys) for r in records]
    settings = [] if search else write_settings(sweep_dir, records, keys, header)
    if search:
        write_trials(sweep_dir, records, keys, header)
    plots = {
        "memorization_vs_utility": sweep_plots.plot_memorization_vs_utility(
            records, labels, sweep_dir / "memorization_vs_utility.png"),
        "score_distributions": sweep_plots.plot_score_distributions(records, labels,
                                                                    sweep_dir / "score_distributions.png"),
        "trends": sweep_plots.plot_trends(settings, keys, sweep_dir / "trends.png"),
        "settings": sweep_plots.plot_settings(settings, sweep_dir / "settings.png"),
    }
    return SweepReport(records, table_csv, table_md, plots, settings)


def write_settings(sweep_dir: Path, records: list[JobRecord], keys: list[str], header: str) -> list[Setting]:
    """sweep_settings.csv/.md and sweep_differences.csv/.md; returns the settings."""
    settings = group_settings(records, keys)
    columns, rows = setting_rows(settings)
    atomic_write_text(sweep_dir / "sweep_settings.csv", _csv_text(columns, rows))
    atomic_write_text(sweep_dir / "sweep_settings.md", header + settings_markdown(settings))
    differences = paired_differences(settings)
    columns, rows = difference_rows(differences)
    atomic_write_text(sweep_dir / "sweep_differences.csv", _csv_text(columns, rows))
    atomic_write_text(sweep_dir / "sweep_differences.md", header + differences_markdown(differences))
    variance = variance_results(records, keys)
    if variance:  # the sweep varies the split and the seed: how much of the spread each accounts for
        atomic_write_text(sweep_dir / "sweep_variance.csv", _csv_text(list(VARIANCE_COLUMNS), variance_rows(variance)))
        atomic_write_text(sweep_dir / "sweep_variance.md", header + variance_markdown(variance))
    return settings
