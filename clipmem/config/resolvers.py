"""OmegaConf resolvers the Hydra configs use: ``${short_uuid:}`` and ``${run_dir_override:...}``."""

from __future__ import annotations

import uuid
from typing import Any

from omegaconf import OmegaConf

from clipmem.io import check_writable


def run_dir_override(task_overrides: Any, default: str) -> str:
    """The value of a ``run_dir=...`` command-line override, else ``default``.

    ``hydra.run.dir`` uses it so that ``resume=true run_dir=<run>`` continues in ``<run>`` instead of
    Hydra creating a fresh directory (``run_dir`` itself defaults to Hydra's output directory).
    """
    for item in list(task_overrides or []):
        key, sep, value = str(item).partition("=")
        if sep and key.lstrip("+~") == "run_dir" and value not in ("", "null"):
            return check_writable(value.strip("'\""))
    return check_writable(default)


def optimize_direction(metric: str) -> str:
    """Optuna's direction for ``optimized_metric``: ``minimize`` for losses, ``maximize`` for the rest."""
    return "minimize" if str(metric).startswith("val_loss") else "maximize"


def register_resolvers() -> None:
    """``${short_uuid:}``: 8 hex chars, fixed per process (cached in the config, which Hydra's
    launchers copy into every job of a sweep), so run directories never collide.
    ``${run_dir_override:${hydra:overrides.task},<default>}``: see ``run_dir_override``.
    ``${writable:<dir>}``: ``<dir>``, checked by ``check_writable`` (the sweep directory).
    ``${optimize_direction:<metric>}``: ``minimize`` or ``maximize`` (``conf/hparams_search``)."""
    if not OmegaConf.has_resolver("short_uuid"):
        OmegaConf.register_new_resolver("short_uuid", lambda: uuid.uuid4().hex[:8], use_cache=True)
    if not OmegaConf.has_resolver("run_dir_override"):
        OmegaConf.register_new_resolver("run_dir_override", run_dir_override)
    if not OmegaConf.has_resolver("writable"):
        OmegaConf.register_new_resolver("writable", check_writable)
    if not OmegaConf.has_resolver("optimize_direction"):
        OmegaConf.register_new_resolver("optimize_direction", optimize_direction)
