"""The default statistic against every other, pooled over seeds, from an ablation's per-run rows.

    python benchmarks/audit_pooled.py outputs/examples/audit/consensus/confirm

Reads ``ablation.csv`` (``benchmarks/audit_ablation.py``: per run and number of repeats, DeLong's paired difference
of the default statistic with each other one, ``diff_vs_<name>`` and ``se_vs_<name>``) and writes ``pooled.md``
and ``pooled.csv`` beside it: per data set and repeats, for every other statistic, the inverse-variance mean of the
per-seed differences with its interval and the per-seed differences themselves. Nothing is recomputed from runs.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

from audit_ablation import combined_difference
from tabulate import tabulate

from clipmem.io import atomic_write_csv, atomic_write_text


def pooled_rows(rows: list[dict[str, str]]) -> list[dict]:
    """One row per (data, repeats, other statistic): seeds, pooled difference [low, high], per-seed differences."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(row["data"], row["repeats"])].append(row)
    out = []
    for (data, repeats), runs in groups.items():
        others = [key[len("diff_vs_"):] for key in runs[0] if key.startswith("diff_vs_") and runs[0][key]]
        for other in others:
            diffs = [float(r[f"diff_vs_{other}"]) for r in runs]
            mean, low, high = combined_difference(diffs, [float(r[f"se_vs_{other}"]) for r in runs])
            out.append({"data": data, "repeats": int(repeats), "versus": other, "seeds": len(runs), "diff": mean,
                        "low": low, "high": high, "per_seed": " ".join(f"{d:+.3f}" for d in diffs)})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_pooled.py", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder holding an audit_ablation.py ablation.csv")
    args = parser.parse_args(argv)
    with (args.folder / "ablation.csv").open(newline="") as f:
        rows = pooled_rows(list(csv.DictReader(f)))
    atomic_write_csv(args.folder / "pooled.csv", rows, list(rows[0]))
    body = [[r["data"], r["repeats"], r["versus"], r["seeds"], f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]",
             r["per_seed"]] for r in rows]
    text = tabulate(body, ["data", "repeats", "default against", "seeds", "paired diff, inverse variance [95 %]",
                           "per seed"], tablefmt="github") + "\n"
    atomic_write_text(args.folder / "pooled.md", text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
