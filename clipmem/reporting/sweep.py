"""One table and a few plots for a whole Hydra multirun: `python evaluate.py sweep_dir=<multirun dir>`.

A sweep directory holds one run directory per job (``<sweep>/<job number>/``). Each job is read from its
``.hydra/overrides.yaml``, ``status.json``, ``metrics.json`` and ``scores.csv``; failed and unfinished
jobs stay in the table with their error, they are never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clipmem.io import atomic_write_text
from clipmem.reporting.search import write_trials
from clipmem.reporting.sweep_jobs import JobRecord, common_overrides, find_jobs, read_job, swept_keys
from clipmem.reporting.sweep_reference import REFERENCE_TABLE, SweepReference, compare_with_reference
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
    tables: list[Path] = field(default_factory=list)  # every table file written (results, settings, differences, ...)

    @property
    def failed(self) -> list[JobRecord]:
        return [r for r in self.records if r.state != "complete"]


def aggregate_sweep(sweep_dir: str | Path, search: bool = False, reference: SweepReference | None = None
                    ) -> SweepReport:
    """Read every job of ``sweep_dir``; write sweep_results.csv/.md and the PNG plots into it; then either the
    settings with their paired differences (and, with ``reference``, their differences from a setting of another
    sweep), or (``search``: a hyper-parameter search) the trials table."""
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
    tables = [table_csv, table_md]
    settings = [] if search else write_settings(sweep_dir, records, keys, header, tables, reference)
    if search:
        tables.append(write_trials(sweep_dir, records, keys, header))
    plots = {
        "memorization_vs_utility": sweep_plots.plot_memorization_vs_utility(
            records, labels, sweep_dir / "memorization_vs_utility.png"),
        "score_distributions": sweep_plots.plot_score_distributions(records, labels,
                                                                    sweep_dir / "score_distributions.png"),
        "trends": sweep_plots.plot_trends(settings, keys, sweep_dir / "trends.png"),
        "settings": sweep_plots.plot_settings(settings, sweep_dir / "settings.png"),
    }
    return SweepReport(records, table_csv, table_md, plots, settings, tables)


def write_settings(sweep_dir: Path, records: list[JobRecord], keys: list[str], header: str, written: list[Path],
                   reference: SweepReference | None = None) -> list[Setting]:
    """sweep_settings.csv/.md, sweep_differences.csv/.md, for a sweep over splits and seeds sweep_variance.csv/.md,
    and with ``reference`` sweep_differences_vs_reference.csv/.md; appends their paths to ``written``; returns the
    settings."""
    settings = group_settings(records, keys)
    columns, rows = setting_rows(settings)
    _write(written, sweep_dir / "sweep_settings.csv", _csv_text(columns, rows))
    _write(written, sweep_dir / "sweep_settings.md", header + settings_markdown(settings))
    differences = paired_differences(settings)
    columns, rows = difference_rows(differences)
    _write(written, sweep_dir / "sweep_differences.csv", _csv_text(columns, rows))
    _write(written, sweep_dir / "sweep_differences.md", header + differences_markdown(differences))
    variance = variance_results(records, keys)
    if variance:  # the sweep varies the split and the seed: how much of the spread each accounts for
        _write(written, sweep_dir / "sweep_variance.csv", _csv_text(list(VARIANCE_COLUMNS), variance_rows(variance)))
        _write(written, sweep_dir / "sweep_variance.md", header + variance_markdown(variance))
    if reference is not None:
        columns, rows, markdown = compare_with_reference(settings, records, reference)
        _write(written, sweep_dir / f"{REFERENCE_TABLE}.csv", _csv_text(columns, rows))
        _write(written, sweep_dir / f"{REFERENCE_TABLE}.md", markdown)
    return settings


def _write(written: list[Path], path: Path, text: str) -> None:
    atomic_write_text(path, text)
    written.append(path)
