"""What one job of a sweep left behind, read without recomputing anything: ``JobRecord`` and ``read_job``; the
job directories of a sweep (``find_jobs``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clipmem.errors import RunDirError
from clipmem.reporting.scores_csv import read_scores
from clipmem.rundir import STATUS_NAME, RunDir


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


def swept_keys(records: list[JobRecord]) -> list[str]:
    """Override keys whose value differs between jobs (all keys when there is a single job), in order."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record.overrides if k not in keys]
    if len(records) < 2:
        return keys
    return [k for k in keys if len({r.overrides.get(k) for r in records}) > 1]


def common_overrides(records: list[JobRecord], keys: list[str]) -> dict[str, str]:
    """Overrides every job shares (not swept): shown above the table."""
    if not records:
        return {}
    first = records[0].overrides
    return {k: v for k, v in first.items() if k not in keys and all(r.overrides.get(k) == v for r in records)}


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
