"""Per-layer results of a seed sweep of ``experiment=paradigms``, over the seeds: paired comparisons of UnitMem
(within each family and tower, last layer − first layer; between families, at the first and at the last layer;
each seed's run gives one difference, its models having seen the same split) and, where the jobs hold a
``python evaluate.py run_dir=<job> analysis=layermem`` evaluation, LayerMem per layer and ground-truth group.
Intervals are t-intervals over the seeds.

    python benchmarks/paradigm_layers.py --out outputs/examples/paradigms/seeds <job dir> [<job dir> ...]

Reads each job's ``metrics.json`` (``unitmem``: family -> tower -> per-layer means) and its newest
``evaluations/*/layermem.csv``; writes and prints ``layer_differences.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from clipmem.config import register
from clipmem.reporting.intervals import Interval

register()  # resolvers and schemas for the runs' saved configs


def _cell(values: list[float]) -> str:
    interval = Interval.of(values)
    text = f"{interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"
    return f"**{text}**" if interval.excludes(0.0) else text


def comparisons(curves: list[dict[str, dict[str, list[float]]]]) -> list[tuple[str, list[float]]]:
    """(label, per-seed differences) for every within-family depth trend and every between-family layer gap."""
    first = curves[0]
    rows = [(f"{family} ({tower}): last − first layer", [c[family][tower][-1] - c[family][tower][0] for c in curves])
            for family, towers in first.items() for tower in towers]
    families = [f for f in first if "image" in first[f]]
    for position, name in ((0, "first"), (-1, "last")):
        for i, a in enumerate(families):
            for b in families[i + 1:]:
                rows.append((f"{a} − {b} (image), {name} layer",
                             [c[a]["image"][position] - c[b]["image"][position] for c in curves]))
    return rows


def layermem_lines(jobs: list[Path]) -> list[str]:
    """LayerMem per family, layer and group over the jobs' newest layermem evaluations (none: no lines)."""
    tables = []
    for job in jobs:
        found = sorted(p for p in (job / "evaluations").glob("*/layermem.csv"))
        if not found:
            return []
        with found[-1].open() as f:
            tables.append(list(csv.DictReader(f)))
    groups = ("layermem", "layermem_clean", "layermem_mislabeled", "layermem_atypical")
    lines = ["", f"LayerMem (in − out SSLMem statistic of each layer, mean over the scored samples of each group) over "
             f"{len(tables)} seeds: mean [95 % t-interval]; **bold**: the interval excludes 0.", "",
             "| family | layer | all | clean | mislabeled | atypical |", "|---|---|---|---|---|---|"]
    for index, row in enumerate(tables[0]):
        cells = [_cell([float(t[index][g]) for t in tables]) for g in groups]
        lines.append(f"| {row['family']} | {row['layer']} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/paradigm_layers.py", description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="job directories (one per seed) of a paradigms sweep")
    parser.add_argument("--out", type=Path, required=True, help="folder for layer_differences.md")
    args = parser.parse_args(argv)
    curves = [json.loads((job / "metrics.json").read_text())["unitmem"] for job in args.jobs]
    lines = [f"UnitMem differences over {len(curves)} seeds ({', '.join(j.name for j in args.jobs)}): mean "
             "[95 % t-interval]; **bold**: the interval excludes 0.", "",
             "| comparison | per seed | mean [95 % interval] |", "|---|---|---|"]
    lines += [f"| {label} | {', '.join(f'{v:+.3f}' for v in values)} | {_cell(values)} |"
              for label, values in comparisons(curves)]
    lines += layermem_lines(args.jobs)
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layer_differences.md").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
