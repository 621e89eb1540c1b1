"""``scores.csv``: one row per scored sample, keyed by sample_id.

Columns: ``sample_id``, ``caption``, the design's numeric columns (the pair design: ``clipmem``,
``clipmem_raw``, ``align_f``, ``align_g``, ``contrast_f``, ``contrast_g``; designs with several pairs:
``clipmem``, ``clipmem_raw``, ``clipmem_se``, ``clipmem_low``, ``clipmem_high``, ``consistency``, ``n_in``,
``n_out``), then ``miscaptioned`` (and, where such samples were injected, ``mislabeled`` and ``atypical``),
``caption_source_id`` and ``set`` (the split the sample comes from).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from clipmem.io import atomic_write

SCORE_COLUMNS = ("clipmem", "clipmem_raw", "align_f", "align_g", "contrast_f", "contrast_g")  # the pair design
FLAG_COLUMNS = ("miscaptioned", "caption_source_id", "set")
GROUND_TRUTH_COLUMNS = ("mislabeled", "atypical")  # present only where such samples were injected
COLUMNS = ("sample_id", "caption", *SCORE_COLUMNS, *FLAG_COLUMNS)
INTEGER_COLUMNS = ("sample_id", "caption_source_id")
TEXT_COLUMNS = ("caption", "set")


def numeric_columns(scores: dict[str, torch.Tensor]) -> list[str]:
    """The estimate's per-sample value columns, in its order (without id and flags)."""
    return [key for key in scores if key not in ("sample_id", *FLAG_COLUMNS, *GROUND_TRUTH_COLUMNS)]


def score_rows(scores: dict[str, torch.Tensor], captions: list[list[str]], caption_source: torch.Tensor,
               sets: tuple[str, ...] | list[str] | None = None) -> list[dict]:
    """Rows sorted by sample_id, score columns as Python floats (numbers in a W&B table; the csv module writes
    them at full precision, their repr, so reruns compare exactly).

    ``scores``: (N,) columns with ``sample_id`` and a boolean ``miscaptioned``; ``sets``: N split names.
    """
    columns = numeric_columns(scores)
    rows = []
    for i, sid in enumerate(scores["sample_id"].tolist()):
        row = {"sample_id": int(sid), "caption": captions[i][0]}
        row.update({key: float(scores[key][i]) for key in columns})
        row["miscaptioned"] = int(bool(scores["miscaptioned"][i]))
        row.update({key: int(bool(scores[key][i])) for key in GROUND_TRUTH_COLUMNS if key in scores})
        row["caption_source_id"] = int(caption_source[i])
        row["set"] = sets[i] if sets else "candidate"
        rows.append(row)
    return sorted(rows, key=lambda r: r["sample_id"])


def write_scores(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (from ``score_rows``) atomically, columns in the order of the first row."""
    fieldnames = list(rows[0]) if rows else list(COLUMNS)

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def read_scores(path: Path) -> list[dict]:
    """Rows of a scores.csv with numeric columns parsed (files written before the ``set`` column: candidates)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in list(row.items()):
            if key in INTEGER_COLUMNS:
                row[key] = int(value)
            elif key in ("miscaptioned", *GROUND_TRUTH_COLUMNS):
                row[key] = bool(int(value))
            elif key not in TEXT_COLUMNS:
                row[key] = float(value)
        row.setdefault("set", "candidate")
    return rows
