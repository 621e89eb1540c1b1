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
NON_RESULT_KEYS = ("run_dir", "logger", "skip_completed")


def register_resolvers() -> None:
    """``${short_uuid:}``: 8 hex chars, fixed per process, so run directories never collide."""
    if not OmegaConf.has_resolver("short_uuid"):
        OmegaConf.register_new_resolver("short_uuid", lambda: uuid.uuid4().hex[:8], use_cache=True)


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
