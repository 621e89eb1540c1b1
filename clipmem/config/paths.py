"""Local paths in a run's config made absolute when the run starts, so that its saved config (``.hydra/``) names
the same files from any directory (``evaluate.py run_dir=...`` run elsewhere).

Only values that name something that exists relative to the working directory are changed: open_clip tags
(``openai``), hub names (``user/dataset``), URLs and paths that do not exist (their error names them as typed)
stay as they are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, open_dict

PATH_KEYS = ("path", "urls", "root", "cache_dir", "pretrained", "scores")
LOCAL_DIR = "local-dir:"


def _absolute(text: str, cwd: Path) -> str:
    """``text`` made absolute where it names an existing local file or folder (a shard pattern's folder, a
    ``local-dir:`` folder, each part of ``a::b``); unchanged otherwise."""
    if "::" in text:
        return "::".join(_absolute(part, cwd) for part in text.split("::"))
    prefix = LOCAL_DIR if text.startswith(LOCAL_DIR) else ""
    body = text[len(prefix):]
    if not body or "://" in body or body.startswith(("pipe:", "~")) or os.path.isabs(body):
        return text
    probe = body.split("{", 1)[0] if "{" in body else body
    probe = os.path.dirname(probe) if "{" in body else probe
    if not probe or not (cwd / probe).exists():
        return text
    return prefix + str((cwd / body).resolve()) if "{" not in body else prefix + str(cwd.resolve() / body)


def _raw(node: DictConfig | ListConfig, key: Any) -> Any:
    """The value under ``key`` without resolving interpolations (``${...}`` stays a string)."""
    child = node._get_node(key)
    if child is None or isinstance(child, DictConfig | ListConfig):
        return child
    return child._value()


def _visit(node: DictConfig | ListConfig, cwd: Path, paths: bool = False) -> None:
    """Walk ``node``; strings under a ``PATH_KEYS`` key (or in a list under one: ``paths``) are made absolute."""
    keys = list(node.keys()) if isinstance(node, DictConfig) else list(range(len(node)))
    for key in keys:
        value = _raw(node, key)
        is_path = paths or (isinstance(key, str) and key in PATH_KEYS)
        if isinstance(value, str) and is_path and "${" not in value:
            node[key] = _absolute(value, cwd)
        elif isinstance(value, DictConfig | ListConfig):
            _visit(value, cwd, is_path and isinstance(value, ListConfig))


def absolute_paths(cfg: DictConfig, cwd: Path | None = None) -> DictConfig:
    """Make the local paths of ``cfg`` (keys ``PATH_KEYS`` anywhere outside ``hydra``) absolute, in place."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    with open_dict(cfg):
        for key in list(cfg.keys()):
            if key != "hydra":
                child = cfg._get_node(key)
                if isinstance(child, DictConfig | ListConfig):
                    _visit(child, cwd)
    return cfg
