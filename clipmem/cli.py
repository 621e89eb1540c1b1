"""What the root entry points call: clean one-line errors for user mistakes, metrics on success."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from clipmem.errors import ClipmemError


def run_cli(job: Callable[[], Any]) -> Any:
    """Run ``job``; a ClipmemError becomes one line on stderr and exit status 1 (no traceback)."""
    try:
        return job()
    except ClipmemError as err:
        print(f"clipmem: error: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
