"""What the data adds to a run directory: ``skipped_samples.csv`` and ``sample_keys.csv``."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from clipmem.data.bad_samples import write_skipped
from clipmem.data.experiment_data import ExperimentData
from clipmem.io import atomic_write
from clipmem.rundir import RunDir

log = logging.getLogger(__name__)


def write_sample_keys(path: Path, sample_ids: list[int], keys: list[str]) -> None:
    """``sample_id,key`` rows sorted by id: how ids derived from string keys map back to them."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["sample_id", "key"])
            writer.writerows(sorted(zip(sample_ids, keys, strict=True)))

    atomic_write(path, write)


def write_data_files(run: RunDir, data: ExperimentData) -> dict[str, int]:
    """Record the data's skipped samples and sample keys in the run directory.

    Returns ``{"num_skipped": count}`` for metrics.json (0 when nothing was skipped; no file then).
    """
    skipped = data.skipped_samples()
    if skipped:
        write_skipped(run.skipped, skipped)
        log.warning("%d bad samples were skipped (data.on_bad_sample=skip); see %s", len(skipped), run.skipped)
    keys = data.sample_keys()
    if keys is not None:
        write_sample_keys(run.sample_keys, *keys)
    return {"num_skipped": len(skipped)}
