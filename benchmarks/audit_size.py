"""How the audit's ranking depends on the number of pairs: random subsets of a prepared set, and the runs on them.

    python benchmarks/audit_size.py --source data/tuxpaint/pairs.csv --sizes 250 500 --seeds 3 4 5 --runs /tmp/size

writes ``pairs_n<size>_s<seed>.csv`` beside ``--source`` (``size`` rows drawn without replacement with ``seed``, in
the source's order, every column kept, so the prepared set's images and attributes still resolve) and prints one
``train.py`` command per subset and seed (the preset ``experiment=audit_<set>`` with ``name=audit_<set>_n<size>``, so
``benchmarks/audit_ablation.py`` tables each size as its own setting). Nothing is trained here.
"""

from __future__ import annotations

import argparse
import csv
import shlex
from pathlib import Path

import numpy as np

from clipmem.io import atomic_write_csv


def subset_rows(rows: list[dict], size: int, seed: int) -> list[dict]:
    """``size`` of ``rows`` drawn without replacement with ``seed``, in their original order."""
    if not 0 < size <= len(rows):
        raise ValueError(f"--sizes: {size} is not between 1 and the source's {len(rows)} rows")
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=size, replace=False))
    return [rows[i] for i in chosen]


def write_subsets(source: Path, sizes: list[int], seeds: list[int]) -> dict[tuple[int, int], Path]:
    """Every subset CSV of ``source``: (size, seed) -> its path beside the source."""
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    out = {}
    for size in sizes:
        for seed in seeds:
            path = source.parent / f"{source.stem}_n{size}_s{seed}.csv"
            atomic_write_csv(path, subset_rows(rows, size, seed), header)
            out[size, seed] = path
    return out


def commands(subsets: dict[tuple[int, int], Path], data: str, runs: Path) -> list[str]:
    """One ``train.py`` command per subset: the preset ``experiment=audit_<data>`` on it, named by its size."""
    return [f"OMP_NUM_THREADS=1 python train.py experiment=audit_{data} data.source.path={shlex.quote(str(path))} "
            f"seed={seed} name=audit_{data}_n{size} run_dir={shlex.quote(str(runs / f'{data}_n{size}_s{seed}'))}"
            for (size, seed), path in sorted(subsets.items())]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_size.py", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a prepared set's pairs.csv")
    parser.add_argument("--sizes", type=int, nargs="+", required=True, help="subset sizes (rows)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="one subset and one run per seed")
    parser.add_argument("--runs", type=Path, required=True, help="folder the printed commands' run directories go in")
    args = parser.parse_args(argv)
    subsets = write_subsets(args.source, args.sizes, args.seeds)
    print("\n".join(commands(subsets, args.source.parent.name, args.runs)))


if __name__ == "__main__":
    main()
