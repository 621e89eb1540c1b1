"""What the root entry points call: clean one-line errors for user mistakes, metrics on success."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

from clipmem.distributed import hydra_job
from clipmem.errors import ClipmemError, DiskFullError, is_disk_full, one_line

log = logging.getLogger(__name__)


def run_cli(job: Callable[[], Any]) -> Any:
    """Run ``job``; a ClipmemError becomes one line on stderr and exit status 1 (no traceback).

    In a Hydra multirun a failing job must not stop the others: any error is printed (one line for a
    ClipmemError, the traceback otherwise), the job's status.json already records it, and None is
    returned. The sweep callback (:class:`clipmem.reporting.sweep_callback.SweepReportCallback`)
    lists the failures and sets the exit status once every job has run.
    """
    multirun = hydra_job()
    try:
        try:
            return job()
        except Exception as err:
            if is_disk_full(err):  # the status already says failed; say why in one line
                raise DiskFullError(f"no space left on device while the run was writing ({type(err).__name__}: "
                                    f"{one_line(err, 160)}); free space, then continue with resume=true") from err
            raise
    except ClipmemError as err:
        if multirun is None:
            print(f"clipmem: error: {err}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"clipmem: error: job {multirun['num']} failed: {err}", file=sys.stderr, flush=True)
    except Exception as err:
        if multirun is None:
            raise
        traceback.print_exc()
        print(f"clipmem: error: job {multirun['num']} failed: {type(err).__name__}: {err}", file=sys.stderr,
              flush=True)
    return None
