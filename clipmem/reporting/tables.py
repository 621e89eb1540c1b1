"""Tables of results as CSV text and as Markdown (built by tabulate): one place for their number formats."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from tabulate import tabulate

PERCENT_PREFIXES = ("zeroshot_", "linear_probe_", "retrieval_")  # accuracies: fractions in CSV, % in Markdown


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """CSV with a header of ``columns``; None becomes an empty field."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: ("" if row.get(k) is None else row.get(k)) for k in columns} for row in rows])
    return buffer.getvalue()


def decimals(value: float) -> int:
    """Enough decimals to tell close small values apart: 3 for |x| ≥ 0.1, one more per factor ten below (max 6)."""
    if value == 0 or value != value or abs(value) >= 0.1:
        return 3
    return min(6, 2 - math.floor(math.log10(abs(value))))


def cell(column: str, value: Any) -> str:
    """A Markdown cell: accuracies in %, seconds whole, scores with ``decimals``; ``|`` and newlines escaped."""
    if value is None or value == "":
        return "–" if column != "error" else ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if column == "wall_s":
            return f"{value:.0f}"
        if column.startswith(PERCENT_PREFIXES):
            return f"{100 * value:.1f}"
        return f"{value:.{decimals(value)}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def header(column: str) -> str:
    """A Markdown column name that states its unit where the cells are converted (accuracies in %)."""
    return f"{column} (%)" if column.startswith(PERCENT_PREFIXES) else column


def markdown_table(columns: list[str], rows: list[dict[str, Any]], max_error: int = 160) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (the ``error`` column only when some row has one)."""
    shown = columns if any(r.get("error") for r in rows) else [c for c in columns if c != "error"]
    body = []
    for row in rows:
        texts = [cell(column, row.get(column)) for column in shown]
        body.append([t if len(t) <= max_error else t[: max_error - 1] + "…" for t in texts])
    return tabulate(body, [header(c) for c in shown], tablefmt="github", disable_numparse=True) + "\n"
