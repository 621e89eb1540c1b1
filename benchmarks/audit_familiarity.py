"""How ``rank_by_familiarity`` was set: its neighbours k and group size against ``rank_joint``, on finished audits.

    python benchmarks/audit_familiarity.py --out outputs/examples/audit/familiarity <run dir> [<run dir> ...]

For every run (design=crossfit, injected mis-captions) and every variant — familiarity from the k nearest images
and captions (k = 1 or 5) and groups of about 125, 250, 500 or 1,000 pairs — the paired DeLong difference of the
grouped ranking's AUC from ``rank_joint``'s on the run's own pairs; per data set the mean over its runs with the
smallest and largest. Reads the runs' saved statistics: nothing is retrained. Writes ``variants.csv`` (one row per run
and variant) and ``variants.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from audit_ablation import saved_run
from common import write_table
from tabulate import tabulate

from clipmem.audit.familiarity import familiarity, familiarity_groups, grouped_suspicion
from clipmem.audit.ranks import mid_rank, out_of_sample_statistics
from clipmem.evaluation.auc import flag_auc
from clipmem.evaluation.delong import paired_auc

NEIGHBOURS = (1, 5)
GROUP_SIZES = (125, 250, 500, 1000)


def run_variants(root: Path) -> list[dict]:
    """One row per (k, group size) of one run: the grouped AUC, rank_joint's, their paired difference."""
    cfg, _, plan, stats, flags = saved_run(root)
    membership = plan.membership()
    image, text = torch.stack([s.image for s in stats]), torch.stack([s.text for s in stats])
    ranks = out_of_sample_statistics(image, text, membership)
    u = mid_rank(ranks["rank_joint"], ranks["compared"]).numpy()
    truth = flags.numpy()
    rows = []
    for k in NEIGHBOURS:
        known = familiarity(image, text, membership, k).numpy()
        known_auc = flag_auc(torch.from_numpy(known), flags)  # near 0.5: familiarity says nothing of wrongness
        for size in GROUP_SIZES:
            groups = familiarity_groups(known, size)
            paired = paired_auc(grouped_suspicion(u, groups), u, truth)
            rows.append({"run": root.name, "data": str(cfg.name), "k": k, "group_size": size,
                         "groups": int(groups.max()) + 1, "auc": paired.auc_a, "auc_rank_joint": paired.auc_b,
                         "diff": paired.difference, "low": paired.low, "high": paired.high, "p": paired.p_value,
                         "familiarity_auc": known_auc})
    return rows


def markdown(rows: list[dict]) -> str:
    data = list(dict.fromkeys(r["data"] for r in rows))
    body = []
    for k in NEIGHBOURS:
        for size in GROUP_SIZES:
            line = [k, size]
            for name in data:
                diffs = [r["diff"] for r in rows if r["data"] == name and r["k"] == k and r["group_size"] == size]
                line.append(_spread(diffs, "{:+.3f}"))
            body.append(line)
    head = ["k", "group size", *[f"{name}: diff vs rank_joint, mean (min to max over runs)" for name in data]]
    known = [[k, *(_spread([r["familiarity_auc"] for r in rows if r["data"] == name and r["k"] == k
                            and r["group_size"] == GROUP_SIZES[0]], "{:.3f}") for name in data)] for k in NEIGHBOURS]
    return (tabulate(body, head, tablefmt="github") + "\n\nAUC of familiarity itself for the injected mis-captions "
            "(0.5: it says nothing of them):\n\n" + tabulate(known, ["k", *data], tablefmt="github") + "\n")


def _spread(values: list[float], form: str) -> str:
    return f"{form.format(np.mean(values))} ({form.format(min(values))} to {form.format(max(values))})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_familiarity.py", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished design=crossfit audit run directories")
    parser.add_argument("--out", type=Path, required=True, help="folder for variants.csv and variants.md")
    args = parser.parse_args(argv)
    rows = [row for root in args.runs for row in run_variants(root)]
    write_table(args.out, "variants", rows, markdown(rows))


if __name__ == "__main__":
    main()
