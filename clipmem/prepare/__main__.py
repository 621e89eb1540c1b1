"""``python -m clipmem.prepare <name> --out data/<name>``: prepare one real caption set (see --help)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clipmem.errors import ClipmemError
from clipmem.prepare import SETS, common, get


def build_parser() -> argparse.ArgumentParser:
    sets = "\n".join(f"  {name:<12} {get(name).DESCRIPTION}" for name in sorted(SETS))
    parser = argparse.ArgumentParser(
        prog="python -m clipmem.prepare",
        description="Prepare a real image-caption set that exists offline into <out>/images/*.png + <out>/pairs.csv "
                    "(the CSV format of `python train.py data=csv`). A missing Debian package is installed with "
                    "apt-get when running as root.",
        epilog=f"sets:\n{sets}\n\nexample: python -m clipmem.prepare openclipart --out data/openclipart",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=sorted(SETS), help="which set to prepare")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: data/<name>)")
    parser.add_argument("--source", type=Path, default=None,
                        help="the package's files (default: where the Debian package installs them)")
    parser.add_argument("--size", type=int, default=common.DEFAULT_SIZE,
                        help=f"side of the saved square PNGs in px (default {common.DEFAULT_SIZE})")
    parser.add_argument("--workers", type=int, default=None,
                        help="rendering processes (default: the CPUs available, at most 8)")
    parser.add_argument("--limit", type=int, default=None,
                        help="prepare only the first N items in path order, for a quick look (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.size < 8:
        print(f"clipmem.prepare: error: --size must be ≥ 8 px, got {args.size}", file=sys.stderr)
        return 2
    try:
        report = get(args.name).prepare(args.out or Path("data") / args.name, source=args.source, size=args.size,
                                        workers=args.workers, limit=args.limit)
    except ClipmemError as err:
        print(f"clipmem.prepare: error: {err}", file=sys.stderr, flush=True)
        return 1
    print(report.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
