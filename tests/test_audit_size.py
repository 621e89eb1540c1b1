"""benchmarks/audit_size.py: random subsets of a prepared set, in its order, and the runs that audit them."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import audit_size  # noqa: E402


def test_subsets_keep_the_source_order_and_columns_and_differ_by_seed(tmp_path):
    source = tmp_path / "tuxpaint" / "pairs.csv"
    source.parent.mkdir()
    with source.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "title", "category"])
        writer.writerows([[f"images/{i}.png", f"A thing {i}.", str(i % 3)] for i in range(40)])
    subsets = audit_size.write_subsets(source, [10], [3, 4])
    read = {seed: list(csv.DictReader(subsets[10, seed].open())) for seed in (3, 4)}
    for rows in read.values():
        numbers = [int(r["filepath"][7:-4]) for r in rows]
        assert len(rows) == 10 and numbers == sorted(set(numbers)) and list(rows[0]) == ["filepath", "title",
                                                                                         "category"]
        assert all(r["title"] == f"A thing {n}." for r, n in zip(rows, numbers, strict=True))
    assert read[3] != read[4]
    (command, _) = audit_size.commands(subsets, "tuxpaint", tmp_path / "runs")
    assert "experiment=audit_tuxpaint" in command and "name=audit_tuxpaint_n10" in command and "seed=3" in command
    with pytest.raises(ValueError, match="not between 1 and the source's 10 rows"):
        audit_size.subset_rows(read[3], 11, 0)
