"""Prepare real caption sets that exist offline into the CSV format clipmem reads.

``python -m clipmem.prepare <name> --out data/<name>`` writes ``data/<name>/images/*.png`` and
``data/<name>/pairs.csv`` (``filepath,title[,...]``); see ``clipmem.prepare.common`` for the format.
Each set lives in its own module with ``NAME``, ``PACKAGE``, ``DEFAULT_SOURCE``, ``DESCRIPTION`` and
``prepare(out, source=None, size=96, workers=None, limit=None) -> PrepareReport``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from clipmem.prepare.common import PrepareError, PrepareReport

SETS = {  # name -> module: imported on use (cairosvg and fontTools load only when needed)
    "emoji": "clipmem.prepare.emoji",
    "openclipart": "clipmem.prepare.openclipart",
    "tuxpaint": "clipmem.prepare.tuxpaint",
}


def prepare_command(name: str, out: str | None = None) -> str:
    """The shell command that prepares set ``name`` into ``out`` (default ``data/<name>``), for error messages."""
    return f"python -m clipmem.prepare {name} --out {out or f'data/{name}'}"


def get(name: str) -> ModuleType:
    """The preparer module of set ``name``; PrepareError listing the known sets otherwise."""
    if name not in SETS:
        raise PrepareError(f"unknown set {name!r}; known sets: {sorted(SETS)}")
    return importlib.import_module(SETS[name])


__all__ = ["SETS", "PrepareError", "PrepareReport", "get", "prepare_command"]
