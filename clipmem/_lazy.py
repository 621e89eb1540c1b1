"""Package attributes imported on first use (PEP 562), so that importing a light module of a package (its config
dataclass) does not import the whole package: what keeps ``train.py --help`` fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps an attribute to the submodule defining it."""

    def getattr_(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        globals_of = importlib.import_module(package).__dict__
        globals_of[name] = value  # later lookups skip this function
        return value

    def dir_() -> list[str]:
        return sorted(exports)

    return getattr_, dir_
