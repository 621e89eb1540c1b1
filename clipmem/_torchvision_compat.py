"""Make ``import torchvision`` work when its compiled ops do not match the installed torch.

On CPU machines the package registry only has a CUDA build of torchvision 0.28.0. Its ``_C``
extension cannot load against the CPU build of torch 2.13.0, and torchvision's import then fails in
``_meta_registrations`` with "operator torchvision::nms does not exist", which also breaks
``import lightning``, ``import torchmetrics`` and ``import open_clip``. Defining the two op schemas
that module registers fake kernels for lets the pure-Python parts (transforms, models) import.
We never edit site-packages, and we do nothing when the extension loads normally (GPU machines).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path
from typing import Any

_LIBRARY: Any = None  # the torch.library.Library, kept alive: dropping it unregisters the schemas

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)


def _extension_loads() -> bool:
    """True when torchvision's compiled ``_C`` library loads against the installed torch."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # torchvision absent: nothing to patch
    candidates = sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(
        Path(spec.origin).parent.glob("_C*.pyd")
    )
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except (OSError, RuntimeError):
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Register the ``torchvision::nms``/``qnms`` schemas if torchvision's extension cannot load.

    Must run before torchvision is first imported. Returns True if the schemas were defined here.
    """
    global _LIBRARY
    import torch

    if _LIBRARY is not None or "torchvision" in sys.modules:
        return False
    if _extension_loads():
        return False
    try:
        torch.ops.torchvision.nms  # noqa: B018  (already defined by someone else)
        return False
    except (AttributeError, RuntimeError):
        pass
    _LIBRARY = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _LIBRARY.define(schema)
    return True


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs ``ensure_torchvision_importable`` when torchvision is first imported, then steps aside (one shot), so
    that ``import clipmem`` stays light and the fix still comes first."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torchvision":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            ensure_torchvision_importable()
        return None  # the regular finders import it


def install_import_hook() -> None:
    """Put the one-shot finder first on ``sys.meta_path`` (nothing to do when torchvision is imported already)."""
    if "torchvision" not in sys.modules and not any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvision())
