"""Refuse to score models that differ in more than their training ids (e.g. f: S_C vs g: S_I)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from clipmem.data.splits.manifest import SplitManifest
from clipmem.errors import IncompatibleModelsError


def ids_sha256(ids: tuple[int, ...] | list[int]) -> str:
    """Order-independent hash of a set of sample ids."""
    return hashlib.sha256(json.dumps(sorted(int(i) for i in ids)).encode()).hexdigest()


def differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys at which two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(name)
            else:
                out.extend(differences(a[key], b[key], name))
        return out
    return [] if a == b else [prefix or "<root>"]


def model_problems(metas: dict[str, dict[str, Any]], train_ids: dict[str, tuple[int, ...]],
                   manifest: SplitManifest) -> list[str]:
    """What disqualifies models (name -> clipmem_meta.json) from being compared: each was trained from
    ``manifest`` on its own ``train_ids``; identical training configs and step counts across them."""
    problems = []
    for name, meta in metas.items():
        if meta.get("manifest_sha256") != manifest.sha256:
            problems.append(f"model {name} was trained on a different split manifest")
        elif meta.get("train_ids_sha256") != ids_sha256(train_ids[name]):
            problems.append(f"model {name} was not trained on its split's ids")
    names = list(metas)
    for other in names[1:]:
        differing = differences(metas[names[0]].get("training_config"), metas[other].get("training_config"))
        if differing:
            problems.append(f"training configs of {names[0]} and {other} differ at " + ", ".join(differing[:8]))
    steps = {name: meta.get("global_step") for name, meta in metas.items()}
    if len(set(steps.values())) > 1:
        problems.append("step counts differ (" + ", ".join(f"{n} {s}" for n, s in steps.items()) + ")")
    return problems


def check_models(metas: dict[str, dict[str, Any]], train_ids: dict[str, tuple[int, ...]],
                 manifest: SplitManifest) -> None:
    """Raise IncompatibleModelsError listing every problem ``model_problems`` finds (and a wrong role)."""
    problems = [f"models/{name} holds model {meta.get('role')!r}" for name, meta in metas.items()
                if meta.get("role") != name]
    problems += model_problems(metas, train_ids, manifest)
    if problems:
        raise IncompatibleModelsError(f"cannot score {' against '.join(metas)}: " + "; ".join(problems))


def check_pair(meta_f: dict[str, Any], meta_g: dict[str, Any], manifest: SplitManifest) -> None:
    """The pair design's check: f saw S_S ∪ S_C and g S_S ∪ S_I, and nothing else differs."""
    if meta_f.get("role") != "f" or meta_g.get("role") != "g":
        raise IncompatibleModelsError(f"cannot score f against g: roles are {meta_f.get('role')!r}/"
                                      f"{meta_g.get('role')!r}, expected 'f'/'g'")
    check_models({"f": meta_f, "g": meta_g}, {"f": manifest.train_ids("f"), "g": manifest.train_ids("g")}, manifest)
