"""The files of a review: a run's audit.csv, the curator's verdicts on some of its rows, and audit.csv with them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipmem.audit.config import AuditConfig
from clipmem.audit.names import GROUPED_STATISTICS, RANK_STATISTICS
from clipmem.audit.review import Ranks, Review
from clipmem.data.sources.csv_source import non_utf8_place
from clipmem.errors import ConfigError

VERDICT_COLUMN = "verdict"
VERDICTS = {"wrong": True, "correct": False}  # an empty verdict: not reviewed
ID_COLUMNS = ("sample_id", "key")  # what a review's rows are matched to audit.csv by, in this order of preference
SEPARATORS = ",;\t"


@dataclass(frozen=True)
class AuditTable:
    """A run's audit.csv: its ``header`` and ``rows`` (most suspicious first), as written."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]

    def column(self, name: str) -> np.ndarray:
        """(N,) float64 values of a numeric column."""
        try:
            return np.array([float(row[name]) for row in self.rows], dtype=np.float64)
        except (KeyError, ValueError) as err:
            raise ConfigError(f"{self.path}: column {name!r} is missing or not numeric ({err})") from err

    def ranks(self, config: AuditConfig) -> Ranks:
        """The rows' ranks as the audit read them: its probability statistic's p-values with their grids and block
        sizes, the rank order (audit.csv's ``suspicion`` for a rank statistic, its ``rank_by_familiarity`` column for
        ``consensus``, whose own order is not a rank) and, where read in groups, the familiarity groups and their
        weights (an audit.csv from before ``familiarity_weight``: wrong pairs as common in every group). Refused for
        any other suspicion (its order says nothing a wrong caption's rank is known to do)."""
        if not (config.rank_order or config.grouped):
            allowed = [*RANK_STATISTICS, *GROUPED_STATISTICS]
            raise ConfigError(f"{self.path} is ordered by audit.statistic={config.statistic}, which is not a rank: a "
                              f"review counts wrong pairs from a rank order ({allowed}); audit again with one of those")
        compared = self.column("compared")
        statistic = config.probability_statistic
        order = self.column("suspicion" if config.rank_order else "rank_by_familiarity")
        grouped, weighted = config.grouped, bool(self.rows) and "familiarity_weight" in self.rows[0]
        return Ranks(self.column(statistic), rank_steps(statistic, compared), compared, order,
                     self.column("familiarity_group").astype(np.int64) if grouped else None,
                     self.column("familiarity_weight") if grouped and weighted else None,
                     sampled_below_top=config.rank_order)


def rank_steps(statistic: str, compared: np.ndarray) -> np.ndarray:
    """(N,) how many values a rank statistic takes in a block of ``compared`` pairs: 2n − 1 for ``rank_joint`` (a
    row and a column of the similarity matrix), n for ``rank_caption`` and ``rank_image``."""
    return 2 * compared - 1 if statistic == "rank_joint" else compared.copy()


def _separator(first_line: str) -> str:
    """The most frequent of comma, semicolon and tab in the header (comma when none occurs): a spreadsheet saves
    semicolons in some locales, which ``csv_source.detect_sep`` (tab or comma) does not look for."""
    counts = {sep: first_line.count(sep) for sep in SEPARATORS}
    return max(counts, key=counts.get) if any(counts.values()) else ","


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV whose separator is a comma, semicolon or tab (what a spreadsheet saves)."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist (or is not a file)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text: {non_utf8_place(path)}; save it as UTF-8") from None
    if not text.strip():
        raise ConfigError(f"{path} is empty")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_separator(text.splitlines()[0]))
    rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    return list(reader.fieldnames or []), rows


def read_audit_table(path: Path) -> AuditTable:
    """audit.csv of an audit run; it must have ``sample_id``, ``key`` and ``compared`` columns."""
    header, rows = read_table(path)
    missing = [c for c in (*ID_COLUMNS, "compared") if c not in header]
    if missing:
        raise ConfigError(f"{path} has no column(s) {missing}: is it an audit's audit.csv?")
    return AuditTable(path, header, rows)


def read_verdicts(path: Path, table: AuditTable) -> Review:
    """The verdicts of a review CSV (a ``verdict`` column: wrong, correct or empty, and a ``sample_id`` or ``key``
    column naming the audit.csv row), as a Review in audit.csv's row order. Every error names the file, the line and
    the allowed values; a row named twice must carry one verdict."""
    header, rows = read_table(path)
    if VERDICT_COLUMN not in header:
        raise ConfigError(f"{path} has no {VERDICT_COLUMN!r} column (its columns: {header}); add one with "
                          f"{' or '.join(VERDICTS)} for each row you reviewed, empty for the others")
    by = next((c for c in ID_COLUMNS if c in header), None)
    if by is None:
        raise ConfigError(f"{path} needs a {' or '.join(ID_COLUMNS)} column (as in audit.csv) to say which row each "
                          f"verdict is for; its columns: {header}")
    index = {row[by]: i for i, row in enumerate(table.rows)}
    reviewed, wrong = np.zeros(len(table.rows), bool), np.zeros(len(table.rows), bool)
    unknown: list[str] = []
    for line, row in enumerate(rows, start=2):
        verdict = row[VERDICT_COLUMN].strip().lower()
        if not verdict:
            continue
        if verdict not in VERDICTS:
            raise ConfigError(f"{path}, line {line}: verdict {row[VERDICT_COLUMN]!r} is not one of {list(VERDICTS)} "
                              "(or empty: not reviewed)")
        at = index.get(row[by].strip())
        if at is None:
            unknown.append(row[by])
            continue
        if reviewed[at] and wrong[at] != VERDICTS[verdict]:
            raise ConfigError(f"{path}, line {line}: {by} {row[by]} was given both verdicts")
        reviewed[at], wrong[at] = True, VERDICTS[verdict]
    if unknown:
        raise ConfigError(f"{path}: {len(unknown)} reviewed {by}(s) are not rows of {table.path}: {unknown[:5]}"
                          f"{' …' if len(unknown) > 5 else ''}; was the review made from another run's audit.csv?")
    if not reviewed.any():
        raise ConfigError(f"{path} has no row with a verdict ({' or '.join(VERDICTS)} in its {VERDICT_COLUMN!r} "
                          "column): nothing was reviewed")
    return Review(reviewed, wrong)


def reviewed_rows(table: AuditTable, review: Review, probability: np.ndarray, flagged: np.ndarray
                  ) -> tuple[list[str], list[dict[str, str]]]:
    """audit.csv's columns with ``verdict`` after ``flagged``, and its rows in its order with the review's
    ``probability`` (N,) and ``flagged`` (N,) bool in place of the audit's."""
    header = [c for c in table.header if c != VERDICT_COLUMN]
    at = header.index("flagged") + 1 if "flagged" in header else len(header)
    header = [*header[:at], VERDICT_COLUMN, *header[at:]]
    rows = []
    for i, row in enumerate(table.rows):
        verdict = ("wrong" if review.wrong[i] else "correct") if review.reviewed[i] else ""
        rows.append({**row, "p_miscaptioned": repr(float(probability[i])), "flagged": str(int(flagged[i])),
                     VERDICT_COLUMN: verdict})
    return header, rows
