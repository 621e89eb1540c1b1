"""Hydra/OmegaConf glue: resolvers, checked instantiation, and the training-config fingerprint."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from clipmem.errors import ClipmemError

# The sections that define what a model learned; f and g must agree on all of them.
TRAINING_SECTIONS = ("model", "data", "mitigation", "trainer", "seed")
# Top-level keys that do not change a run's results: left out of its config fingerprint.
NON_RESULT_KEYS = ("run_dir", "logger", "skip_completed", "resume")


def run_dir_override(task_overrides: Any, default: str) -> str:
    """The value of a ``run_dir=...`` command-line override, else ``default``.

    ``hydra.run.dir`` uses it so that ``resume=true run_dir=<run>`` continues in ``<run>`` instead of
    Hydra creating a fresh directory (``run_dir`` itself defaults to Hydra's output directory).
    """
    for item in list(task_overrides or []):
        key, sep, value = str(item).partition("=")
        if sep and key.lstrip("+~") == "run_dir" and value not in ("", "null"):
            return value.strip("'\"")
    return default


def register_resolvers() -> None:
    """``${short_uuid:}``: 8 hex chars, fixed per process (cached in the config, which Hydra's
    launchers copy into every job of a sweep), so run directories never collide.
    ``${run_dir_override:${hydra:overrides.task},<default>}``: see ``run_dir_override``."""
    if not OmegaConf.has_resolver("short_uuid"):
        OmegaConf.register_new_resolver("short_uuid", lambda: uuid.uuid4().hex[:8], use_cache=True)
    if not OmegaConf.has_resolver("run_dir_override"):
        OmegaConf.register_new_resolver("run_dir_override", run_dir_override)


def instantiate_checked(config: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that re-raises clipmem's own errors unwrapped (one clear line)."""
    try:
        return instantiate(config, _convert_="all", **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, ClipmemError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def training_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved sections of ``cfg`` that determine training (stored with each saved model)."""
    return {key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
            for key in TRAINING_SECTIONS if key in cfg}


def config_fingerprint(cfg: DictConfig) -> str:
    """sha256 of the resolved config without ``NON_RESULT_KEYS``: equal means the run would repeat itself."""
    plain = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in NON_RESULT_KEYS}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()


register_resolvers()  # on import: sweep jobs unpickled in other processes (joblib, submitit) resolve them too
