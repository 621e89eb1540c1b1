"""Refuse to score a pair of models that differ in more than S_C vs S_I."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from clipmem.data.splits import SplitManifest
from clipmem.errors import IncompatibleModelsError


def ids_sha256(ids: tuple[int, ...] | list[int]) -> str:
    """Order-independent hash of a set of sample ids."""
    return hashlib.sha256(json.dumps(sorted(int(i) for i in ids)).encode()).hexdigest()


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys at which two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(name)
            else:
                out.extend(_differences(a[key], b[key], name))
        return out
    return [] if a == b else [prefix or "<root>"]


def check_pair(meta_f: dict[str, Any], meta_g: dict[str, Any], manifest: SplitManifest) -> None:
    """Raise IncompatibleModelsError unless f and g differ only in their training subset.

    Checks: roles are f and g; both were trained from ``manifest``; f saw S_S ∪ S_C and g S_S ∪ S_I;
    identical training configs (architecture, optimizer, data, mitigation, seed) and step counts.
    """
    problems = []
    if meta_f.get("role") != "f" or meta_g.get("role") != "g":
        problems.append(f"roles are {meta_f.get('role')!r}/{meta_g.get('role')!r}, expected 'f'/'g'")
    for role, meta in (("f", meta_f), ("g", meta_g)):
        if meta.get("manifest_sha256") != manifest.sha256:
            problems.append(f"model {role} was trained on a different split manifest")
        elif meta.get("train_ids_sha256") != ids_sha256(manifest.train_ids(role)):
            problems.append(f"model {role} was not trained on its split's ids")
    differing = _differences(meta_f.get("training_config"), meta_g.get("training_config"))
    if differing:
        problems.append("training configs differ at " + ", ".join(differing[:8]))
    if meta_f.get("global_step") != meta_g.get("global_step"):
        problems.append(f"step counts differ (f {meta_f.get('global_step')}, g {meta_g.get('global_step')})")
    if problems:
        raise IncompatibleModelsError("cannot score f against g: " + "; ".join(problems))
