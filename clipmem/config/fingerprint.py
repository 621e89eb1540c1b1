"""What identifies a run's results: the training sections stored with each model, and the config hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

# The sections that define what a model learned; the models of a plan must agree on all of them.
TRAINING_SECTIONS = ("model", "data", "mitigation", "trainer", "seed")
# Top-level keys that do not change a run's results: left out of its config fingerprint.
NON_RESULT_KEYS = ("run_dir", "logger", "skip_completed", "resume", "optimized_metric", "print_config")


def plain(node: Any) -> Any:
    """A resolved plain-Python copy of an OmegaConf node; other values pass through."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def training_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved sections of ``cfg`` that determine training (stored with each saved model). The ground truth
    of the paradigms (``data.atypical``, ``data.miscaption.labels``) is left out while it is off, so a model's
    record is the one runs made before it existed wrote (and resuming such a run keeps its models)."""
    out = {key: plain(cfg[key]) for key in TRAINING_SECTIONS if key in cfg}
    data = out.get("data")
    if isinstance(data, dict):
        if not (data.get("atypical") or {}).get("fraction"):
            data.pop("atypical", None)
        if isinstance(data.get("miscaption"), dict) and not data["miscaption"].get("labels"):
            data["miscaption"].pop("labels", None)
    return out


def config_fingerprint(cfg: DictConfig) -> str:
    """sha256 of the resolved config without ``NON_RESULT_KEYS``: equal means the run would repeat itself."""
    content = {k: v for k, v in plain(cfg).items() if k not in NON_RESULT_KEYS}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
