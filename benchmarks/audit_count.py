"""How many pairs are wrong, from the ranks alone: every count estimator tried, against the injected count.

    python benchmarks/audit_count.py RUN [RUN ...] --out outputs/examples/audit/consensus/count

Reads finished audit runs (``experiment=audit_*``, with injected mis-captions) and re-estimates, from their saved
statistics, the number of wrong pairs by each estimator of ``ESTIMATORS`` (the audit's own, ``audit_estimated_wrong``,
is the first). Writes ``count.csv`` (per run and estimator: the estimate and its ratio to the injected count) and
``count.md`` (per data set and estimator: the ratios of every run and how many lie within 25 %). Nothing is trained.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from audit_ablation import saved_run
from common import write_table
from tabulate import tabulate

from clipmem.audit.config import AuditConfig
from clipmem.audit.estimate import estimate_audit
from clipmem.audit.familiarity import side_familiarity
from clipmem.audit.mixture import wrong_upper_bound
from clipmem.audit.ranks import mid_rank
from clipmem.evaluation.auc import flag_auc

TOLERANCE = 0.25  # the target: within 25 % of the injected count
FAMILIAR_SHARE = 0.2  # the most familiar fifth of the pairs


def most_familiar(values: np.ndarray, share: float = FAMILIAR_SHARE) -> np.ndarray:
    """(N,) bool: the ``share`` of pairs with the largest familiarity ``values`` (N,)."""
    return values >= np.quantile(values, 1 - share)


ESTIMATORS = {
    "mixture (the audit's)": "N·π of the Beta mixture fitted to rank_joint (audit_estimated_wrong)",
    "storey 0.5": "#{u > 0.5} / (N/2) of rank_joint (audit_wrong_upper)",
    "storey 0.8": "the same with λ = 0.8",
    "storey 0.9": "the same with λ = 0.9",
    "familiar fifth, storey 0.8": "Storey (λ = 0.8) within the fifth of pairs of highest familiarity (image plus "
                                  "caption), times N",
    "image-familiar fifth, rank_caption": "Storey (λ = 0.8) of rank_caption within the fifth of pairs whose image "
                                          "is most familiar (a caption's rank among the captions for its image "
                                          "does not depend on how typical the image is), times N",
}


def estimates(root: Path) -> tuple[dict, dict[str, float]]:
    """(the run's label fields, {estimator: estimated number of wrong pairs}) of one finished audit run."""
    _, settings, plan, stats, flags = saved_run(root)
    result = estimate_audit(stats, plan, AuditConfig())
    values, n = result.statistics, len(flags)
    joint = mid_rank(values["rank_joint"], values["compared"]).numpy()
    caption = mid_rank(values["rank_caption"], values["compared"]).numpy()
    familiar = most_familiar(values["familiarity"].numpy())
    membership = plan.membership()
    image_side = side_familiarity(torch.stack([s.image for s in stats]), membership).numpy()
    image_familiar = most_familiar(image_side)
    found = {
        "mixture (the audit's)": result.wrong_count(),
        "storey 0.5": wrong_upper_bound(joint, 0.5) * n, "storey 0.8": wrong_upper_bound(joint, 0.8) * n,
        "storey 0.9": wrong_upper_bound(joint, 0.9) * n,
        "familiar fifth, storey 0.8": wrong_upper_bound(joint[familiar], 0.8) * n,
        "image-familiar fifth, rank_caption": wrong_upper_bound(caption[image_familiar], 0.8) * n,
    }
    label = {"run": root.name, "data": settings.data.source.prepared, "seed": settings.seed,
             "rows": n, "injected": int(flags.sum())}
    return label, found, why(joint, values["low_fit"], flags)


def why(u: np.ndarray, low_fit: torch.Tensor, flags: torch.Tensor) -> dict[str, float]:
    """What the ranks cannot see, for mid-ranks ``u`` (N,) of ``rank_joint``, ``low_fit`` (N,) and the injected
    ``flags`` (N,): the share of correct pairs that rank in the lower half (u > 0.5, where a wrong caption lands
    half the time), the share of the pairs there that are wrong, and how well the in-fold fit (``low_fit``) tells
    wrong from correct among them (AUC)."""
    wrong, low = flags.numpy().astype(bool), u > 0.5
    return {"correct_in_lower_half": round(float(low[~wrong].mean()), 3),
            "wrong_share_of_lower_half": round(float(wrong[low].mean()), 3),
            "low_fit_auc_in_lower_half": round(flag_auc(low_fit[torch.from_numpy(low)], flags[torch.from_numpy(low)]),
                                               3)}


def run_rows(root: Path) -> list[dict]:
    """One row per estimator of one run (with the run's ``why`` in every row)."""
    label, found, causes = estimates(root)
    return [{**label, "estimator": name, "estimated": round(value, 1), "ratio": round(value / label["injected"], 3),
             **causes} for name, value in found.items()]


def why_markdown(rows: list[dict]) -> str:
    """Per run: the columns of ``why``."""
    first = {(r["data"], r["seed"]): r for r in rows}
    table = [[d, s, r["correct_in_lower_half"], r["wrong_share_of_lower_half"], r["low_fit_auc_in_lower_half"]]
             for (d, s), r in sorted(first.items())]
    return ("\n## Why\n\nPer run: the share of correct pairs whose rank_joint lies in the lower half (u > 0.5: "
            "where a wrong caption lands half the time), the share of wrong pairs among all rows there, and the AUC "
            "of low_fit (the in-fold fit) for wrong against correct among those rows.\n\n"
            + tabulate(table, ["data", "seed", "correct pairs with u > 0.5", "wrong share there",
                               "low_fit AUC there"], tablefmt="github") + "\n")


def markdown(rows: list[dict]) -> str:
    """Per data set and estimator: every run's ratio (estimated / injected) and how many lie within 25 %."""
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        cells[row["data"], row["estimator"]].append(row)
    table = []
    for (data, name), chosen in cells.items():
        ratios = [r["ratio"] for r in sorted(chosen, key=lambda r: r["seed"])]
        within = sum(abs(r - 1) <= TOLERANCE for r in ratios)
        table.append([data, name, ", ".join(f"{r:.2f}" for r in ratios), f"{min(ratios):.2f}–{max(ratios):.2f}",
                      f"{within} of {len(ratios)}"])
    seeds = sorted({(r["data"], r["seed"]) for r in rows})
    legend = "\n".join(f"- **{name}**: {text}" for name, text in ESTIMATORS.items())
    return ("# The number of wrong pairs from the ranks alone\n\nEstimated / injected number of wrong pairs per run "
            f"(runs, in seed order: {', '.join(f'{d} {s}' for d, s in seeds)}); target: within "
            f"{TOLERANCE:.0%}.\n\n"
            + tabulate(table, ["data", "estimator", "ratio per seed", "range", "within 25 %"], tablefmt="github")
            + "\n\n" + legend + "\n" + why_markdown(rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_count.py", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished audit run directories with injected mis-captions")
    parser.add_argument("--out", type=Path, required=True, help="folder for count.csv and count.md")
    args = parser.parse_args(argv)
    rows = []
    for root in args.runs:
        rows += run_rows(root)
        print(f"{root}: done", file=sys.stderr, flush=True)
    write_table(args.out, "count", rows, markdown(rows))


if __name__ == "__main__":
    main()
