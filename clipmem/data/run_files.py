"""What the data adds to a run directory: ``skipped_samples.csv`` and ``sample_keys.csv``."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from clipmem.data.experiment_data import ExperimentData
from clipmem.data.sources.bad_samples import skip_counts, write_skipped
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

    Returns for metrics.json: ``skip_counts`` (samples known to be skipped, truncated shards that lost an
    unknown number more; no file when nothing was skipped) and what the source counted
    (``num_same_image_other_caption``, ``num_near_duplicate_images``).
    """
    skipped = data.skipped_samples()
    counts = skip_counts(skipped)
    if skipped:
        write_skipped(run.skipped, skipped)
        unknown = (f", and {counts['num_truncated_shards']} truncated shard(s) lost an unknown number more"
                   if counts["num_truncated_shards"] else "")
        log.warning("%d bad samples were skipped (data.on_bad_sample=skip)%s; see %s", counts["num_skipped"],
                    unknown, run.skipped)
    keys = data.sample_keys()
    if keys is not None:
        write_sample_keys(run.sample_keys, *keys)
    found = {f"num_{name}": int(value) for name, value in data.table.counts.items()}
    if found.get("num_same_image_other_caption"):
        log.warning("%d images appear again with other captions (kept: legitimate data, but worth a look)",
                    found["num_same_image_other_caption"])
    return {**counts, **found}
