"""Weights & Biases through Lightning's WandbLogger: offline unless the user is logged in."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from clipmem.errors import ConfigError

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
    if env in ("online", "offline", "disabled"):
        return env
    if mode == "auto":
        return "online" if wandb_logged_in() else "offline"
    return mode


def build_wandb_logger(settings: dict[str, Any] | None, run_dir: Path, name: str, config: dict[str, Any]):
    """A WandbLogger writing under ``<run_dir>/wandb`` with the config logged, or None when disabled.

    ``settings`` may carry ``group`` and ``job_type`` (jobs of one sweep share a group) and ``run_name``
    (default ``<name>/<run directory name>``).
    """
    if not settings:
        return None
    mode = resolve_mode(settings.get("mode", "auto"))
    if mode == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(
        project=settings.get("project", "clipmem"),
        entity=settings.get("entity"),
        group=settings.get("group"),
        job_type=settings.get("job_type"),
        tags=list(settings.get("tags") or []),
        name=settings.get("run_name") or f"{name}/{Path(run_dir).name}",
        save_dir=str(run_dir),
        offline=mode == "offline",
        log_model=False,
    )
    logger.log_hyperparams(config)
    return logger


def log_results(logger, metrics: dict[str, Any], plots: dict[str, Path], top_rows: list[dict], images) -> None:
    """Scalars, plots and a table of the most memorized pairs (with images) into the W&B run."""
    if logger is None:
        return
    import wandb

    run = logger.experiment
    run.summary.update({f"final/{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
    run.log({f"report/{name}": wandb.Image(str(path)) for name, path in plots.items() if path is not None})
    table = wandb.Table(columns=["rank", "sample_id", "image", "caption", "clipmem", "miscaptioned"])
    for rank, (row, image) in enumerate(zip(top_rows, images, strict=True), start=1):
        table.add_data(rank, row["sample_id"], wandb.Image(image.permute(1, 2, 0).numpy()), row["caption"],
                       row["clipmem"], row["miscaptioned"])
    run.log({"report/top_memorized": table})


def log_file(logger, path: Path, name: str, kind: str) -> None:
    """Attach a file (e.g. splits.json) to the W&B run as an artifact."""
    if logger is None:
        return
    import wandb

    artifact = wandb.Artifact(name=name, type=kind)
    artifact.add_file(str(path))
    logger.experiment.log_artifact(artifact)
