"""How well a curator's review of the top of audit.csv counts the wrong pairs: simulated reviews of audit runs.

For each finished audit run with injected mis-captions, a curator who reviews the top share of audit.csv (or a
random sample of it) is simulated with the run's own ``miscaptioned`` column as the verdicts, and the count of
``evaluate.py review=`` (``clipmem.audit.review``) is compared with the injected count and with the audit's own
estimate (no review); the precision it predicts for the next rows of the ranking is compared with what they hold.
Each run's audit.csv is reduced to ``ranks.csv`` (sample_id, rank_joint, compared, suspicion, order (the rank order a
review counts along: the suspicion, or ``rank_by_familiarity`` for a ``consensus`` audit), familiarity_group,
miscaptioned, in the rank order) beside its metrics.json and config under ``--out`` (``--rescore``: as the current
estimator audits the run from its saved statistics), and the tables are computed from those copies. "top x %" reviews
the top of the rank order; for a consensus audit, "consensus top 10 %, then to_review.csv" reviews the top tenth of
audit.csv and then the rows ``evaluate.py review=`` lists to close the rank order's top tenth::

    python benchmarks/audit_review.py --out outputs/examples/audit/review --rescore --run tux_s0=/tmp/runs/tux_s0 ...
    python benchmarks/audit_review.py --out outputs/examples/audit/review          # from the copies
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from audit_ablation import rescored_audit
from tabulate import tabulate

from clipmem.audit.config import AuditConfig
from clipmem.audit.review import Ranks, Review, estimate_from_review, next_rows
from clipmem.audit.review_files import rank_steps
from clipmem.io import atomic_write_csv, atomic_write_text
from clipmem.run.review import rows_to_review

KEPT = ("sample_id", "rank_joint", "compared", "suspicion", "order", "familiarity_group", "familiarity_weight",
        "miscaptioned")
TOP_SHARES = (0.05, 0.1, 0.2, 0.3)
RANDOM_SHARES = (0.1, 0.2)
MIXED = (0.1, 0.1)  # the top 10 %, and a random 10 % of the rows below it
RANDOM_DRAWS = 20
WITHIN = 0.25  # the target: the count within 25 % of the injected


def copy_run(name: str, run: Path, out: Path, rescore: bool) -> None:
    """``ranks.csv`` (the kept columns of audit.csv, in its order) and the run's metrics/status/config into out/name;
    with ``rescore``, audit.csv and metrics.json as the current estimator computes them from the run's saved
    statistics (at its defaults), for runs audited before it."""
    target = out / name
    (target / ".hydra").mkdir(parents=True, exist_ok=True)
    for part in ("metrics.json", "status.json", ".hydra/config.yaml"):
        if (run / part).is_file():
            shutil.copyfile(run / part, target / part)
    if rescore:
        rows, metrics = rescored(run)
        atomic_write_text(target / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    else:
        statistic = json.loads((run / "metrics.json").read_text()).get("audit_statistic", "rank_joint")
        column = "suspicion" if AuditConfig(statistic=statistic).rank_order else "rank_by_familiarity"
        with (run / "audit.csv").open(newline="") as f:
            rows = [{**{k: r.get(k, "") for k in KEPT}, "order": r[column]} for r in csv.DictReader(f)]
        rows.sort(key=lambda r: -float(r["order"]))
    atomic_write_csv(target / "ranks.csv", rows, list(KEPT))


def rescored(run: Path) -> tuple[list[dict], dict]:
    """The kept columns of the run's audit as the current estimator computes it (most suspicious first) and its
    metrics."""
    plan, result, flags = rescored_audit(run)
    values = result.statistics
    order = result.rank_order()
    rows = [{"sample_id": plan.scored_ids[i], "rank_joint": repr(float(values["rank_joint"][i])),
             "compared": int(values["compared"][i]), "suspicion": repr(float(result.suspicion[i])),
             "order": repr(float(order[i])),
             "familiarity_group": int(result.groups[i]) if result.groups is not None else 0,
             "familiarity_weight": repr(float(result.weights[i])) if result.weights is not None else "1.0",
             "miscaptioned": int(flags[i])}
            for i in torch.argsort(order, descending=True, stable=True).tolist()]
    return rows, result.metrics()


def load(folder: Path) -> tuple[Ranks, np.ndarray, dict, np.ndarray]:
    """The rows' ranks (in the rank order), the injected mis-captions (N,) bool, the run's metrics and audit.csv's
    suspicion (N,)."""
    with (folder / "ranks.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    compared = np.array([float(r["compared"]) for r in rows])
    p = np.array([float(r["rank_joint"]) for r in rows])
    key = "order" if rows[0].get("order") else "suspicion"
    order = np.array([float(r[key]) for r in rows]) if rows[0].get(key) else None
    groups = np.array([int(r["familiarity_group"]) for r in rows]) if rows[0].get("familiarity_group") else None
    weights = np.array([float(r["familiarity_weight"]) for r in rows]) if rows[0].get("familiarity_weight") else None
    ranks = Ranks(p, rank_steps("rank_joint", compared), compared, order, groups, weights)
    wrong = np.array([r["miscaptioned"] == "1" for r in rows])
    suspicion = np.array([float(r["suspicion"]) for r in rows])
    return ranks, wrong, json.loads((folder / "metrics.json").read_text()), suspicion


def top_review(rows: int, share: float) -> np.ndarray:
    """(N,) bool: the first ``share`` of the ``rows`` rows of the rank order (most suspicious first)."""
    reviewed = np.zeros(rows, bool)
    reviewed[: max(1, round(share * rows))] = True
    return reviewed


def consensus_review(ranks: Ranks, suspicion: np.ndarray, share: float) -> tuple[Ranks, np.ndarray]:
    """(ranks counted along the rank order only, (N,) bool): the top ``share`` of audit.csv by ``suspicion`` (N,)
    (consensus), then the rows ``rows_to_review`` lists to close the rank order's top of as many rows."""
    reviewed, size = np.zeros(len(suspicion), bool), max(1, round(share * len(suspicion)))
    reviewed[np.argsort(-suspicion, kind="stable")[:size]] = True
    ranks = dataclasses.replace(ranks, sampled_below_top=False)
    reviewed[rows_to_review(ranks, Review(reviewed, reviewed), size)] = True
    return ranks, reviewed


def measure(ranks: Ranks, wrong: np.ndarray, reviewed: np.ndarray) -> dict[str, float]:
    """The review's count against the injected, and the next rows' predicted against measured precision."""
    review = Review(reviewed, wrong.copy())
    estimate = estimate_from_review(ranks, review)
    injected = int(wrong.sum())
    chosen, expected = next_rows(ranks, review, estimate, estimate.reviewed)
    return {"reviewed": estimate.reviewed, "found": estimate.found, "estimated": estimate.estimated_wrong,
            "low": estimate.low, "high": estimate.high, "ratio": estimate.estimated_wrong / injected,
            "within": float(abs(estimate.estimated_wrong / injected - 1) <= WITHIN),
            "covers": float(estimate.low <= injected <= estimate.high),
            "next_predicted": expected / max(chosen.size, 1), "next_measured": float(wrong[chosen].mean())
            if chosen.size else float("nan")}


def evaluate_run(name: str, folder: Path) -> list[dict]:
    """One row per review design of one run (random designs: the mean over ``RANDOM_DRAWS`` samples)."""
    ranks, wrong, metrics, suspicion = load(folder)
    n = len(wrong)
    base = {"run": name, "rows": n, "injected": int(wrong.sum()),
            "audit_estimate": metrics.get("audit_estimated_wrong", float("nan"))}
    rows = [{**base, **no_review(metrics, int(wrong.sum()))}]
    rows += [{**base, "design": f"top {share:.0%}", **measure(ranks, wrong, top_review(n, share))}
            for share in TOP_SHARES]
    if not AuditConfig(statistic=metrics.get("audit_statistic", "rank_joint")).rank_order:
        counted, reviewed = consensus_review(ranks, suspicion, 0.1)
        rows.append({**base, "design": "consensus top 10%, then to_review.csv", **measure(counted, wrong, reviewed)})
    rng = np.random.default_rng(0)
    designs = {f"random {share:.0%}": (0.0, share) for share in RANDOM_SHARES}
    designs[f"top {MIXED[0]:.0%} + random {MIXED[1]:.0%} of the rest"] = MIXED
    for design, (top, share) in designs.items():
        draws = [measure(ranks, wrong, random_review(n, top, share, rng)) for _ in range(RANDOM_DRAWS)]
        rows.append({**base, "design": f"{design} (mean of {RANDOM_DRAWS})",
                     **{k: float(np.mean([d[k] for d in draws])) for k in draws[0]}})
    return rows


def no_review(metrics: dict, injected: int) -> dict[str, float | str]:
    """The audit's own estimate (its Beta mixture, no review) in the columns of ``measure``."""
    estimate = metrics["audit_estimated_wrong"]
    low, high = metrics["audit_estimated_wrong_low"], metrics["audit_estimated_wrong_high"]
    return {"design": "no review (the audit's own estimate)", "reviewed": 0, "found": 0, "estimated": estimate,
            "low": low, "high": high, "ratio": estimate / injected,
            "within": float(abs(estimate / injected - 1) <= WITHIN), "covers": float(low <= injected <= high),
            "next_predicted": float("nan"), "next_measured": float("nan")}


def random_review(rows: int, top: float, share: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool: the first ``top`` share of audit.csv's rows and a random ``share`` of all rows drawn from the rest."""
    reviewed = top_review(rows, top) if top > 0 else np.zeros(rows, bool)
    rest = np.flatnonzero(~reviewed)
    reviewed[rng.choice(rest, min(rest.size, max(1, round(share * rows))), replace=False)] = True
    return reviewed


def summary(rows: list[dict]) -> list[dict]:
    """Per design over the runs: how many counts are within 25 %, how many intervals cover the injected count, the
    mean ratio and the largest gap between the next rows' predicted and measured precision."""
    out = []
    for design in dict.fromkeys(r["design"] for r in rows):
        chosen = [r for r in rows if r["design"] == design]
        gaps = [abs(r["next_predicted"] - r["next_measured"]) for r in chosen if r["reviewed"]]
        out.append({"design": design, "runs": len(chosen), "within_25": sum(r["within"] for r in chosen),
                    "covers": sum(r["covers"] for r in chosen),
                    "ratio_min": min(r["ratio"] for r in chosen), "ratio_max": max(r["ratio"] for r in chosen),
                    "next_gap_max": max(gaps, default=float("nan")),
                    "next_within_0.10": sum(g <= 0.10 for g in gaps) if gaps else float("nan")})
    return out


def markdown(rows: list[dict], totals: list[dict]) -> str:
    head = ["run", "injected", "audit's estimate (no review)", "review", "rows reviewed", "wrong found",
            "count [95 %]", "ratio", "next rows: predicted / measured precision"]
    body = [[r["run"], r["injected"], f"{r['audit_estimate']:.0f}", r["design"], f"{r['reviewed']:.0f}",
             f"{r['found']:.1f}", f"{r['estimated']:.0f} [{r['low']:.0f}, {r['high']:.0f}]", f"{r['ratio']:.2f}",
             f"{r['next_predicted']:.3f} / {r['next_measured']:.3f}"] for r in rows]
    total_head = ["review", "runs", "count within 25 %", "interval covers the injected", "ratio min–max",
                  "next rows within 0.10", "largest precision gap"]
    total_body = [[t["design"], t["runs"], f"{t['within_25']:.1f}", f"{t['covers']:.1f}",
                   f"{t['ratio_min']:.2f}–{t['ratio_max']:.2f}", t["next_within_0.10"], f"{t['next_gap_max']:.3f}"]
                  for t in totals]
    return (tabulate(total_body, total_head, tablefmt="github") + "\n\nPer run (random reviews: means over draws, so "
            "'within' and 'covers' are shares):\n\n" + tabulate(body, head, tablefmt="github") + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_review.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the compact run copies and review.csv/.md")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="copy a finished audit run with injected mis-captions under this name (repeatable)")
    parser.add_argument("--rescore", action="store_true",
                        help="copy each --run as the current estimator audits it from its saved statistics")
    args = parser.parse_args(argv)
    for item in args.run:
        name, _, run = item.partition("=")
        copy_run(name, Path(run), args.out, args.rescore)
    folders = sorted(p.parent for p in args.out.glob("*/ranks.csv"))
    if not folders:
        raise SystemExit(f"{args.out} holds no run copy (<name>/ranks.csv): give --run NAME=RUN_DIR")
    rows = [row for folder in folders for row in evaluate_run(folder.name, folder)]
    totals = summary(rows)
    atomic_write_csv(args.out / "review.csv", rows, list(rows[0]))
    atomic_write_csv(args.out / "review_summary.csv", totals, list(totals[0]))
    text = markdown(rows, totals)
    atomic_write_text(args.out / "review.md", text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
