"""``python evaluate.py run_dir=<audit run> review=<verdicts.csv>``: the count of wrong pairs from a curator's review.

Reads the run's audit.csv and the verdicts, and writes into a new ``evaluations/<date>_<time>/`` folder (the run's
own files are never touched): audit.csv with a ``verdict`` column and the reviewed probabilities and flags,
review.csv (the verdicts read), clean.csv (the source CSV's rows not flagged), metrics.json (``audit_review_*``).
An audit ordered by ``consensus`` is counted along its rank order (``rank_by_familiarity``): to_review.csv then lists
the rows of that order's first T not yet reviewed (T: the rows of audit.csv reviewed from its top without a gap),
which a count from a top of T rows needs.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from clipmem.audit.review import (
    Ranks,
    Review,
    ReviewEstimate,
    estimate_from_review,
    next_rows,
    reviewed_probability,
    unreviewed_wrong_rate,
)
from clipmem.audit.review_files import ID_COLUMNS, VERDICT_COLUMN, read_audit_table, read_verdicts, reviewed_rows
from clipmem.audit.writer import write_clean
from clipmem.config import legacy
from clipmem.config.settings import load_settings
from clipmem.errors import ConfigError, RunDirError
from clipmem.io import atomic_write_csv, atomic_write_json
from clipmem.rundir import RunDir


def flag_metrics(ranks: Ranks, review: Review, estimate: ReviewEstimate, flagged: np.ndarray) -> dict[str, Any]:
    """The flags after the review: how many, how many of them not reviewed, the wrong pairs expected among those
    and so their expected precision (NaN when none is flagged); and what reviewing as many rows again on down the
    ranking would find (``audit_review_next_*``)."""
    open_flags = flagged & ~review.reviewed
    expected = math.nan
    if open_flags.any():
        expected = unreviewed_wrong_rate(ranks, review, estimate, float(ranks.ordering[open_flags].min()))
    chosen, next_wrong = next_rows(ranks, review, estimate, estimate.reviewed)
    return {"audit_review_flagged": int(flagged.sum()), "audit_review_flagged_unreviewed": int(open_flags.sum()),
            "audit_review_flagged_expected_precision": expected, "audit_review_next_rows": int(chosen.size),
            "audit_review_next_expected_wrong": next_wrong,
            "audit_review_next_precision": next_wrong / chosen.size if chosen.size else math.nan}


def reviewed_prefix(review: Review) -> int:
    """How many rows of audit.csv (``review`` in its order) were reviewed from its first row on without a gap."""
    gaps = np.flatnonzero(~review.reviewed)
    return int(gaps[0]) if gaps.size else len(review.reviewed)


def rows_to_review(ranks: Ranks, review: Review, size: int) -> np.ndarray:
    """(M,) indices, in rank order, of the rows among the rank order's first ``size`` not yet reviewed: what a count
    from a fully reviewed top of that many rows still needs."""
    first = np.argsort(-np.asarray(ranks.ordering), kind="stable")[: int(size)]
    return first[~review.reviewed[first]]


def _still_needed(table: Any, ranks: Ranks, review: Review, prefix: int, missing: np.ndarray, shown: int = 30
                  ) -> str:
    """Which rows (audit.csv's ``key``) a refused review should add: ``missing``, the rank order's first ``prefix``
    rows not reviewed (``rows_to_review``), or, when audit.csv's top was not reviewed either, the rank order's first
    rows."""
    if missing.size:
        head = f"of its first {prefix} rows these {missing.size} are not reviewed"
    else:
        missing, head = rows_to_review(ranks, review, len(review.reviewed))[:shown], "review its first rows"
    keys = [table.rows[i]["key"] for i in missing[:shown]]
    more = f" and {missing.size - shown} more (to_review.csv of a later review lists them)" \
        if missing.size > shown else ""
    return f"{head} (audit.csv's key column): {keys}{more}"


def format_review(metrics: dict[str, Any], estimate: ReviewEstimate, out: RunDir, wrote: list[str],
                  in_rank_order: bool = True) -> str:
    """The lines printed at the end of a review (``in_rank_order``: audit.csv's order is the rank order)."""
    table = "audit.csv" if in_rank_order else "the rank order (audit.csv by rank_by_familiarity)"
    where = (f"the first {estimate.top_rows} rows of {table}" if estimate.top_rows else "none of the first rows")
    others = estimate.reviewed - estimate.top_rows - estimate.sampled
    if not in_rank_order and others:
        where += f", and {others} below them, counted as found only"
    if estimate.sampled:
        where += f", and {estimate.sampled} of the {estimate.between} rows below down to the lowest reviewed"
    lines = [
        f"clipmem review: {estimate.reviewed} rows reviewed ({where}): {estimate.found} wrong",
        f"  estimated wrong pairs in the set: {estimate.estimated_wrong:.0f} [{estimate.low:.0f}, {estimate.high:.0f}] "
        f"({estimate.level:.0%}), about {estimate.remaining:.0f} of them among the "
        f"{estimate.rows - estimate.reviewed} rows not reviewed",
    ]
    if metrics["audit_review_next_rows"]:
        lines.append(f"  reviewing the next {metrics['audit_review_next_rows']} rows of {table} would find about "
                     f"{metrics['audit_review_next_expected_wrong']:.0f} wrong "
                     f"(precision {metrics['audit_review_next_precision']:.2f})")
    lines.append(f"  flagged: {metrics['audit_review_flagged']} ({metrics['audit_review_flagged_unreviewed']} not "
                 "reviewed" + (f", expected precision {metrics['audit_review_flagged_expected_precision']:.2f})"
                               if metrics["audit_review_flagged_unreviewed"] else ")"))
    if metrics.get("audit_review_to_review"):
        lines.append(f"  the count reads the first {estimate.top_rows} rows of {table}: review the "
                     f"{metrics['audit_review_to_review']} rows of to_review.csv too, and it reads at least the "
                     f"first {metrics['audit_review_to_review'] + estimate.top_rows}")
    if not estimate.random_sample:
        lines.append(f"  warning: the {estimate.sampled} rows reviewed below the top are not a random sample of the "
                     f"{estimate.between} rows there (p = {estimate.sample_p:.3g}); the count assumes they are: "
                     "review from the top of audit.csv without gaps, or a random sample below it")
    lines.append(f"  wrote {', '.join(wrote)} in {out.root}")
    return "\n".join(lines)


def evaluate_review(run_dir: str | Path, review_path: str | Path) -> dict[str, Any]:
    """The review of a finished audit run (module docstring); returns the metrics written."""
    run, path = RunDir(run_dir), Path(review_path).expanduser()
    if not run.audit.is_file():
        raise RunDirError(f"{run.root} has no audit.csv: review= needs a finished experiment=audit run")
    if run.read_status().get("state") != "complete":
        raise RunDirError(f"{run.root} is {run.read_status().get('state', 'without a status')}, not complete: its "
                          "audit.csv may not hold every row")
    settings = load_settings(legacy.saved_run_config(run.config, run.root))
    table = read_audit_table(run.audit)
    review = read_verdicts(path, table)
    ranks = table.ranks(settings.audit)
    prefix = reviewed_prefix(review)
    missing = rows_to_review(ranks, review, prefix)
    try:
        estimate = estimate_from_review(ranks, review)
    except ValueError as err:
        raise ConfigError(f"{path}: {err} ({settings.audit.statistic} audit: the count reads audit.csv in its "
                          f"rank_by_familiarity order; {_still_needed(table, ranks, review, prefix, missing)}; "
                          "add their verdicts and run the review again)") from None
    probability = reviewed_probability(ranks, review, estimate.wrong_fraction)
    flagged = np.where(review.reviewed, review.wrong, probability >= settings.audit.min_probability)
    out = run.new_evaluation()
    atomic_write_json(out.evaluation_record, {"run_dir": str(run.root), "review": str(path.resolve()),
                                              "review_sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    header, rows = reviewed_rows(table, review, probability, flagged)
    atomic_write_csv(out.audit, rows, header)
    atomic_write_csv(out.root / "review.csv", [{c: row[c] for c in (*ID_COLUMNS, VERDICT_COLUMN)} for row in rows
                                              if row[VERDICT_COLUMN]], [*ID_COLUMNS, VERDICT_COLUMN])
    metrics = {**estimate.metrics(), **flag_metrics(ranks, review, estimate, flagged),
               "audit_rows": len(rows), "audit_min_probability": settings.audit.min_probability}
    wrote = [out.audit.name, "review.csv"]
    if not ranks.sampled_below_top:
        metrics["audit_review_to_review"] = int(missing.size)
        atomic_write_csv(out.root / "to_review.csv", [table.rows[i] for i in missing], table.header)
        wrote.append("to_review.csv")
    if hasattr(settings.data.source, "rows_by_id"):
        ids = [int(row["sample_id"]) for row in rows]
        dropped = {i for i, f in zip(ids, flagged, strict=True) if f}
        metrics["audit_clean_rows"] = write_clean(settings.data.source, dropped, set(ids), out.clean)
        wrote.append(out.clean.name)
    atomic_write_json(out.metrics, metrics)
    out.write_status("complete")
    print(format_review(metrics, estimate, out, [*wrote, out.metrics.name], ranks.sampled_below_top), flush=True)
    return metrics
