"""``scores.csv``: one row per scored candidate, keyed by sample_id."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from clipmem.io import atomic_write

SCORE_COLUMNS = ("clipmem", "clipmem_raw", "align_f", "align_g", "contrast_f", "contrast_g")
COLUMNS = ("sample_id", "caption", *SCORE_COLUMNS, "miscaptioned", "caption_source_id")


def score_rows(scores: dict[str, torch.Tensor], captions: list[list[str]], caption_source: torch.Tensor) -> list[dict]:
    """Rows sorted by sample_id; floats kept at full precision (repr) so reruns compare exactly."""
    rows = []
    for i, sid in enumerate(scores["sample_id"].tolist()):
        row = {"sample_id": int(sid), "caption": captions[i][0]}
        row.update({key: repr(float(scores[key][i])) for key in SCORE_COLUMNS})
        row["miscaptioned"] = int(bool(scores["miscaptioned"][i]))
        row["caption_source_id"] = int(caption_source[i])
        rows.append(row)
    return sorted(rows, key=lambda r: r["sample_id"])


def write_scores(path: Path, rows: list[dict]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def read_scores(path: Path) -> list[dict]:
    """Rows of a scores.csv with numeric columns parsed."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["sample_id"] = int(row["sample_id"])
        row["miscaptioned"] = bool(int(row["miscaptioned"]))
        row["caption_source_id"] = int(row["caption_source_id"])
        for key in SCORE_COLUMNS:
            row[key] = float(row[key])
    return rows
