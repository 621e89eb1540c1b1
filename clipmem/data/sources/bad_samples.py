"""Bad samples (missing or unreadable image, empty caption, duplicate id): raise, or skip and record.

``on_bad_sample="error"`` (default) raises ConfigError naming the file, the row or key and the reason.
``"skip"`` drops the sample, and the run records every skipped one in ``<run_dir>/skipped_samples.csv``
and its count in metrics.json (``num_skipped``): nothing is dropped silently.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

from clipmem.errors import ConfigError
from clipmem.io import atomic_write

log = logging.getLogger(__name__)
POLICIES = ("error", "skip")
SKIPPED_COLUMNS = ("source", "file", "row", "sample_id", "reason")
SHARD_ROW = "(shard)"  # the row of a record that stands for an unknown number of samples (a truncated shard)


def check_policy(policy: str, field_name: str = "data.on_bad_sample") -> str:
    if policy not in POLICIES:
        raise ConfigError(f"{field_name} must be one of {list(POLICIES)}, got {policy!r}")
    return policy


@dataclass
class BadSamples:
    """Collects bad samples of one source under a policy.

    Args:
        policy: ``error`` raises on the first bad sample; ``skip`` records it and goes on.
        source: what the records belong to, e.g. ``data`` or ``zeroshot:pets`` (a column of the skip file).
    """

    policy: str = "error"
    source: str = "data"
    records: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_policy(self.policy)

    def report(self, file: str | Path, row: str | int, reason: str, sample_id: int | str | None = None,
               location: str | None = None) -> None:
        """A bad sample at ``row`` of ``file`` (a CSV row index, a tar member key or an image path).

        ``location`` is how the error message names the place (default ``row <row>``).
        """
        if self.policy == "error":
            raise ConfigError(
                f"{file}: bad sample at {location or f'row {row}'}: {reason} "
                "(set data.on_bad_sample=skip to skip such samples and record them in the run directory)"
            )
        self.records.append({"source": self.source, "file": str(file), "row": str(row),
                             "sample_id": "" if sample_id is None else str(sample_id), "reason": reason})

    def warn(self) -> None:
        if self.records:
            log.warning("%s: skipped %d bad samples (on_bad_sample=skip); first: %s at %s: %s", self.source,
                        len(self.records), self.records[0]["file"], self.records[0]["row"], self.records[0]["reason"])


def skip_counts(records: list[dict]) -> dict[str, int]:
    """``num_skipped`` (samples known to be left out) and ``num_truncated_shards`` (each lost an unknown
    number of samples more) for metrics.json."""
    shards = sum(record["row"] == SHARD_ROW for record in records)
    return {"num_skipped": len(records) - shards, "num_truncated_shards": shards}


def write_skipped(path: str | Path, records: list[dict]) -> None:
    """Write the skipped samples (columns ``SKIPPED_COLUMNS``) atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=SKIPPED_COLUMNS)
            writer.writeheader()
            writer.writerows(records)

    atomic_write(Path(path), write)


def read_skipped(path: str | Path) -> list[dict]:
    with Path(path).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
