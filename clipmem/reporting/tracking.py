"""Experiment trackers: Weights & Biases (offline unless the user is logged in), and helpers that log a
run's results to whichever W&B loggers a run has."""

from __future__ import annotations

import json
import netrc
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from clipmem import distributed
from clipmem.errors import ConfigError
from clipmem.io import atomic_write_json

WANDB_MODES = ("auto", "online", "offline", "disabled")


def wandb_logged_in() -> bool:
    """True when an API key is available (WANDB_API_KEY or a ~/.netrc entry from ``wandb login``)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(mode: str) -> str:
    """``auto`` -> ``online`` if logged in else ``offline``; WANDB_MODE in the environment wins."""
    if mode not in WANDB_MODES:
        raise ConfigError(f"logger.wandb.mode must be one of {list(WANDB_MODES)}, got {mode!r}")
    env = os.environ.get("WANDB_MODE")
    resolved = env if env in ("online", "offline", "disabled") else mode
    if resolved == "auto":
        return "online" if wandb_logged_in() else "offline"
    if resolved == "online" and not wandb_logged_in():
        raise ConfigError("logger.wandb.mode=online needs a W&B API key: run `wandb login` or set WANDB_API_KEY, "
                          "or use logger.wandb.mode=offline (sync later with `wandb sync`)")
    return resolved


def check_logger(factory: Any) -> None:
    """Check a logger factory's arguments before anything trains (``factory``: a functools.partial)."""
    if getattr(factory, "func", None) is wandb_logger:
        resolve_mode(factory.keywords.get("mode", "auto"))


def sweep_labels(name: str, group: str | None, job_type: str | None, run_name: str) -> dict[str, str | None]:
    """In a Hydra multirun: a group shared by the sweep and a per-job type and run name. A single run is the
    group of itself and its evaluations (``run_name`` unless ``group`` is given)."""
    job = distributed.hydra_job()
    if job is None:
        return {"group": group or run_name, "job_type": job_type, "run_name": None}
    overrides = ",".join(job["overrides"]) or "defaults"
    return {
        "group": group or f"{name}-{Path(job['sweep_dir']).name}",
        "job_type": job_type or overrides[:64],
        "run_name": f"{name}/{job['num']}:{overrides}"[:128],
    }


@dataclass(frozen=True)
class WandbOptions:
    """The keys of ``logger.wandb`` beside ``save_dir`` and ``name`` (conf/logger/wandb.yaml).

    mode: auto | online | offline | disabled (``resolve_mode``). project, entity, tags: as W&B names them.
    group, job_type: None: the jobs of one sweep share a group, each job its overrides as type (``sweep_labels``).
    run_name: None: ``<name>/<run directory name>``.
    """

    mode: str = "auto"
    project: str = "clipmem"
    entity: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: Sequence[str] = ()
    run_name: str | None = None


def wandb_options(options: dict[str, Any]) -> WandbOptions:
    """``options`` as ``WandbOptions``; an unknown key stops with the allowed ones."""
    allowed = [f.name for f in fields(WandbOptions)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"logger.wandb: unknown key(s) {unknown}; allowed: save_dir, name, {', '.join(allowed)}")
    return WandbOptions(**options)


def wandb_logger(save_dir: str, name: str, **options: Any):
    """``logger.wandb``: a Lightning WandbLogger writing under ``<save_dir>/wandb``, or None when disabled.

    ``name`` is the experiment name; ``options`` are ``WandbOptions``' keys. The W&B run is called
    ``<name>/<run directory name>`` (or ``run_name``), and jobs of one sweep share a group.
    """
    opts = wandb_options(options)
    resolved = resolve_mode(opts.mode)
    if resolved == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    from lightning.pytorch.loggers import WandbLogger

    own_name = opts.run_name or f"{name}/{Path(save_dir).name}"
    labels = sweep_labels(name, opts.group, opts.job_type, own_name)
    logger = WandbLogger(
        project=opts.project, entity=opts.entity, group=labels["group"], job_type=labels["job_type"],
        tags=list(opts.tags or []), name=labels["run_name"] or own_name, save_dir=str(save_dir),
        offline=resolved == "offline", log_model=False,
    )
    logger._wandb_init.pop("anonymous", None)  # W&B warns about the setting whenever it is passed, even as None
    return logger


def wandb_runs(loggers: list) -> list:
    """The W&B run objects among a run's loggers."""
    from lightning.pytorch.loggers import WandbLogger

    return [logger.experiment for logger in loggers if isinstance(logger, WandbLogger)]


def thumbnails(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) images at least ``size`` px on a side, as uint8 (N, size', size', 3) for wandb.Image:
    smaller ones upscaled (nearest neighbour, so small renders stay sharp), larger ones kept."""
    if images.shape[-1] < size:
        images = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="nearest-exact")
        images = images.round().clamp(0, 255).to(torch.uint8)
    return images.permute(0, 2, 3, 1).contiguous()


def scores_table(rows: list[dict], images: torch.Tensor, image_size: int):
    """A wandb.Table of scored pairs (most memorized first): rank, sample_id, image, caption and every column
    of scores.csv with its own type (score columns float, so the table sorts and plots numerically; the sample id
    as text: 63-bit ids lose digits as browser numbers)."""
    return ranked_table(rows, images, image_size, flags=("miscaptioned",))


def ranked_table(rows: list[dict], images: torch.Tensor, image_size: int, flags: tuple[str, ...] = ()):
    """A wandb.Table of ``rows`` in their order: rank, sample_id (text), image, then every other column of the rows
    (``flags`` as booleans). images: uint8 (N, 3, H, W), one per row."""
    import wandb

    columns = ["rank", "sample_id", "image", *(key for key in (rows[0] if rows else {}) if key != "sample_id")]
    table = wandb.Table(columns=columns)
    for rank, (row, image) in enumerate(zip(rows, thumbnails(images, image_size).numpy(), strict=True), start=1):
        table.add_data(rank, str(row["sample_id"]), wandb.Image(image),
                       *(bool(int(row[k])) if k in flags else row[k] for k in columns[3:]))
    return table


def log_results(loggers: list, metrics: dict[str, Any], plots: dict[str, Path], rows: list[dict],
                images: torch.Tensor, image_size: int = 96) -> None:
    """Scalars (run summary ``final/…``), plots and a table of scored pairs with their images into each W&B run.

    rows: scores.csv rows, most memorized first; images: their uint8 (N, 3, H, W) images."""
    runs = wandb_runs(loggers)
    if not runs:
        return
    import wandb

    for run in runs:
        run.summary.update({f"final/{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
        run.log({f"report/{name}": wandb.Image(str(path)) for name, path in plots.items() if path is not None})
        run.log({"report/top_memorized": scores_table(rows, images, image_size)})


def log_file(loggers: list, path: Path, name: str, kind: str) -> None:
    """Attach a file (e.g. splits.json, scores.csv) or a folder (a model) to each W&B run as an artifact."""
    runs = wandb_runs(loggers)
    if not runs:
        return
    import wandb

    for run in runs:
        artifact = wandb.Artifact(name=name, type=kind)
        if Path(path).is_dir():
            artifact.add_dir(str(path))
        else:
            artifact.add_file(str(path))
        run.log_artifact(artifact)


def record_run(loggers: list, path: Path) -> None:
    """Write the W&B run's identity (id, project, entity, group, name, offline) to ``path``: what an
    evaluation of this run links to (``linked_labels``). Nothing without a W&B logger."""
    runs = wandb_runs(loggers)
    if runs:
        run = runs[0]
        atomic_write_json(path, {"id": run.id, "project": run.project, "entity": run.entity, "group": run.group,
                                 "name": run.name, "offline": bool(run.settings._offline)})


def linked_labels(record_path: Path, fallback_group: str) -> dict[str, str]:
    """``logger.wandb`` arguments of an evaluation run: the training run's group (``fallback_group`` for runs
    that recorded none), job type ``evaluate`` and the name ``<training run name>/evaluate``."""
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    group = record.get("group") or fallback_group
    return {"group": group, "job_type": "evaluate", "run_name": f"{record.get('name') or group}/evaluate"}


def sync_commands(loggers: list) -> list[str]:
    """``wandb sync <dir>`` for every offline W&B run among ``loggers`` (call before ``finish``)."""
    return [f"wandb sync {Path(run.dir).parent}" for run in wandb_runs(loggers) if run.settings._offline]


def finish(loggers: list, exit_code: int) -> None:
    """Close every logger; a W&B run is marked failed when ``exit_code`` is not 0."""
    for logger in loggers:
        logger.finalize("success" if exit_code == 0 else "failed")
    if has_wandb(loggers):
        import wandb

        wandb.finish(exit_code=exit_code)


def has_wandb(loggers: list) -> bool:
    """True when a W&B logger is among ``loggers``."""
    from lightning.pytorch.loggers import WandbLogger

    return any(isinstance(logger, WandbLogger) for logger in loggers)
