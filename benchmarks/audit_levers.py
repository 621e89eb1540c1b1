"""The audit's levers, each against a reference run on the same pairs: paired AUC differences (DeLong).

Every lever run and its reference audit the same pairs with the same injected mis-captions (same ``data.split_seed``),
so their suspicion scores are compared pair by pair on the same samples. Each run's ``audit.csv`` (as the run wrote
it, with the code of its time) is reduced to ``ranks.csv`` (sample_id, the statistics, ``miscaptioned``,
``base_overlap``) beside its ``metrics.json``, ``status.json`` and ``.hydra/config.yaml`` under ``--out``; the
table is computed from those copies, so it can be recomputed from the repository alone::

    python benchmarks/audit_levers.py --out outputs/examples/audit/levers \\
        --pair tux_s0=/tmp/runs/tux_s0 --pair tux_base=/tmp/runs/tux_base_s0 --compare tux_base:tux_s0
    python benchmarks/audit_levers.py --out outputs/examples/audit/levers --compare tux_base:tux_s0  # from copies
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from audit_ablation import combined_difference, logit_mean_interval, rescored_audit
from scipy import stats as scipy_stats
from tabulate import tabulate

from clipmem.audit.statistics import STATISTICS
from clipmem.evaluation.delong import paired_auc
from clipmem.io import atomic_write_csv, atomic_write_text

KEPT = ("sample_id", "rank_joint", "rank_by_familiarity", "consensus", "low_alignment", "clipscore", "neighbours",
        "miscaptioned", "base_overlap", "reference_overlap")
STATISTIC = "rank_joint"  # the statistic compared, unless --statistic names another


def copy_run(name: str, run: Path, out: Path, rescore: bool = False) -> None:
    """``ranks.csv`` (the kept columns of audit.csv, audited rows only) and the run's small files into out/name;
    with ``rescore`` the statistics are recomputed from the run's saved per-model statistics by the current
    estimator (runs written before a statistic existed), the overlap columns still read from its audit.csv."""
    target = out / name
    (target / ".hydra").mkdir(parents=True, exist_ok=True)
    with (run / "audit.csv").open(newline="") as f:
        rows = [{k: r.get(k, "") for k in KEPT} for r in csv.DictReader(f) if r.get("rank_joint", "") != ""]
    if rescore:
        plan, result, _ = rescored_audit(run)
        position = {int(i): n for n, i in enumerate(plan.scored_ids)}
        for row in rows:
            n = position[int(row["sample_id"])]
            row.update({k: repr(float(result.statistics[k][n])) for k in KEPT if k in result.statistics})
    atomic_write_csv(target / "ranks.csv", rows, list(KEPT))
    for part in ("metrics.json", "status.json", ".hydra/config.yaml"):
        if (run / part).is_file():
            shutil.copyfile(run / part, target / part)


def import_review_copy(name: str, folder: Path, out: Path) -> None:
    """A run copy of ``benchmarks/audit_review.py`` (its ``ranks.csv``: rank_joint, ``order`` = rank_by_familiarity,
    ``suspicion`` = the run's statistic) as a copy of this script under out/name, the statistics it lacks empty."""
    metrics = json.loads((folder / "metrics.json").read_text())
    with (folder / "ranks.csv").open(newline="") as f:
        rows = [{**dict.fromkeys(KEPT, ""), "sample_id": r["sample_id"], "rank_joint": r["rank_joint"],
                 "rank_by_familiarity": r.get("order") or r["suspicion"], metrics["audit_statistic"]: r["suspicion"],
                 "miscaptioned": r["miscaptioned"]} for r in csv.DictReader(f)]
    (out / name).mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out / name / "ranks.csv", rows, list(KEPT))
    for part in ("metrics.json", "status.json"):
        shutil.copyfile(folder / part, out / name / part)


def load(out: Path, name: str) -> dict[int, dict[str, str]]:
    with (out / name / "ranks.csv").open(newline="") as f:
        return {int(r["sample_id"]): r for r in csv.DictReader(f)}


def compare(out: Path, lever: str, reference: str, statistic: str = STATISTIC, reference_statistic: str | None = None
            ) -> dict:
    """AUCs of both runs (``statistic`` of the lever, ``reference_statistic`` of the reference: the same by default)
    and their paired difference on the pairs both audited (and, where the lever started from a base model, on the
    pairs whose images that base never saw). A run against itself compares two of its statistics."""
    reference_statistic = reference_statistic or statistic
    a, b = load(out, lever), load(out, reference)
    ids = sorted(set(a) & set(b))
    flags = np.array([a[i]["miscaptioned"] == "1" for i in ids])
    if any((a[i]["miscaptioned"] == "1") != (b[i]["miscaptioned"] == "1") for i in ids):
        raise SystemExit(f"{lever} and {reference} did not inject the same mis-captions: not the same pairs")
    label = statistic if reference_statistic == statistic else f"{statistic} / {reference_statistic}"
    row = {"lever": lever, "reference": reference, "statistic": label, "pairs": len(ids),
           "wrong": int(flags.sum())}
    for subset, keep in (("all", np.ones(len(ids), bool)),
                         ("unseen_by_base", np.array([unseen(a[i]) for i in ids]))):
        if flags[keep].all() or not flags[keep].any():  # e.g. a base without an image list: overlap unknown
            row.update({f"{subset}_{k}": float("nan") for k in ("auc_lever", "auc_reference", "diff", "low", "high",
                                                                  "p")}, **{f"{subset}_n": int(keep.sum())})
            continue
        scores_a = np.array([float(a[i][statistic]) for i in ids])[keep]
        scores_b = np.array([float(b[i][reference_statistic]) for i in ids])[keep]
        paired = paired_auc(scores_a, scores_b, flags[keep])
        row.update({f"{subset}_n": int(keep.sum()), f"{subset}_auc_lever": paired.auc_a,
                    f"{subset}_auc_reference": paired.auc_b, f"{subset}_diff": paired.difference,
                    f"{subset}_se": paired.stderr, f"{subset}_low": paired.low, f"{subset}_high": paired.high,
                    f"{subset}_p": paired.p_value})
    metrics = json.loads((out / lever / "metrics.json").read_text())
    row["reliability_lever"] = metrics.get("audit_reliability")
    row["train_s_lever"] = sum(v.get("train", 0.0) for v in json.loads(
        (out / lever / "status.json").read_text()).get("seconds", {}).values())
    return row


def unseen(row: dict[str, str]) -> bool:
    """Whether neither the base model nor the reference pairs showed this pair's image (copies made before
    reference pairs existed have no ``reference_overlap`` column: none)."""
    return row["base_overlap"] in ("", "none") and row.get("reference_overlap", "") in ("", "none")


def _unseen(row: dict) -> str:
    """How many pairs neither the base model nor the reference showed: all, a count, or unknown (the base lists no
    images)."""
    if row["unseen_by_base_n"] == row["pairs"]:
        return "all"
    return str(row["unseen_by_base_n"]) if row["unseen_by_base_n"] else "unknown"


def pooled(name: str, rows: list[dict]) -> dict:
    """One lever over several seeds (``rows``: its per-seed comparisons, each seed its own pairs, mis-captions and
    training): mean AUCs with a t-interval on the logit scale, and the paired differences (all pairs, and those the
    base or reference never showed) as the inverse-variance weighted mean of the per-seed DeLong differences."""
    out = {"lever": name, "statistic": rows[0]["statistic"], "seeds": len(rows),
           "comparisons": " ".join(f"{r['lever']}:{r['reference']}" for r in rows)}
    for side in ("lever", "reference"):
        out[f"auc_{side}"], out[f"auc_{side}_low"], out[f"auc_{side}_high"] = logit_mean_interval(
            [r[f"all_auc_{side}"] for r in rows])
    for subset in ("all", "unseen_by_base"):
        out[f"{subset}_diff"], out[f"{subset}_low"], out[f"{subset}_high"] = combined_difference(
            [r[f"{subset}_diff"] for r in rows], [r[f"{subset}_se"] for r in rows])
    diffs, ses = np.array([r["all_diff"] for r in rows]), np.array([r["all_se"] for r in rows])
    out["seeds_mean"], out["seeds_low"], out["seeds_high"] = seed_interval(diffs)
    out["heterogeneity_p"] = heterogeneity_p(diffs, ses)
    return out


def seed_interval(diffs: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the per-seed differences with a t-interval over the seeds (clipped to [−1, 1]): what the seed-to-seed
    spread allows, where the inverse-variance interval counts only the pairs' sampling error."""
    mean = float(diffs.mean())
    if len(diffs) < 2:
        return mean, float("nan"), float("nan")
    half = float(scipy_stats.t.ppf(0.5 + level / 2, len(diffs) - 1)) * float(diffs.std(ddof=1)) / np.sqrt(len(diffs))
    return mean, max(-1.0, mean - half), min(1.0, mean + half)


def heterogeneity_p(diffs: np.ndarray, ses: np.ndarray) -> float:
    """Cochran's Q test that every seed has the same true difference: small p, the seeds disagree beyond their
    sampling error (then the inverse-variance interval is too narrow)."""
    w = 1 / np.maximum(ses, 1e-12) ** 2
    q = float((w * (diffs - (w * diffs).sum() / w.sum()) ** 2).sum())
    return float(scipy_stats.chi2.sf(q, len(diffs) - 1)) if len(diffs) > 1 else float("nan")


def pooled_markdown(rows: list[dict]) -> str:
    head = ["lever", "seeds", f"AUC {rows[0]['statistic']}: lever [95 %]", "reference [95 %]",
            "paired diff, inverse variance [95 %]", "diff on pairs unseen by base / reference [95 %]",
            "diff, t over seeds [95 %]", "seeds agree (Cochran's Q p)"]
    body = [[r["lever"], r["seeds"], f"{r['auc_lever']:.3f} [{r['auc_lever_low']:.3f}, {r['auc_lever_high']:.3f}]",
             f"{r['auc_reference']:.3f} [{r['auc_reference_low']:.3f}, {r['auc_reference_high']:.3f}]",
             f"{r['all_diff']:+.3f} [{r['all_low']:+.3f}, {r['all_high']:+.3f}]",
             f"{r['unseen_by_base_diff']:+.3f} [{r['unseen_by_base_low']:+.3f}, {r['unseen_by_base_high']:+.3f}]",
             f"{r['seeds_mean']:+.3f} [{r['seeds_low']:+.3f}, {r['seeds_high']:+.3f}]", f"{r['heterogeneity_p']:.3f}"]
            for r in rows]
    return tabulate(body, head, tablefmt="github") + "\n"


def markdown(rows: list[dict]) -> str:
    head = ["lever", "reference", "pairs", f"AUC {rows[0]['statistic']}: lever / reference", "paired diff [95 %]", "p",
            "pairs unseen by base / reference", "diff on those [95 %]", "reliability (lever)", "train s (lever)"]
    body = [[r["lever"], r["reference"], r["pairs"], f"{r['all_auc_lever']:.3f} / {r['all_auc_reference']:.3f}",
             f"{r['all_diff']:+.3f} [{r['all_low']:+.3f}, {r['all_high']:+.3f}]", f"{r['all_p']:.3f}",
             _unseen(r),
             f"{r['unseen_by_base_diff']:+.3f} [{r['unseen_by_base_low']:+.3f}, {r['unseen_by_base_high']:+.3f}]"
             if 0 < r["unseen_by_base_n"] < r["pairs"] else "",
             "n/a" if r["reliability_lever"] is None else f"{r['reliability_lever']:.3f}", f"{r['train_s_lever']:.0f}"]
            for r in rows]
    return tabulate(body, head, tablefmt="github") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_levers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the compact run copies and levers.csv/.md")
    parser.add_argument("--pair", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="copy a finished audit run under this name (repeatable)")
    parser.add_argument("--review-copy", action="append", default=[], metavar="NAME=FOLDER",
                        help="import a run copy of benchmarks/audit_review.py under this name (repeatable)")
    parser.add_argument("--rescore", action="store_true",
                        help="with --pair: recompute the statistics from the run's saved statistics (current code)")
    parser.add_argument("--statistic", default=STATISTIC, choices=STATISTICS, help="the statistic compared")
    parser.add_argument("--reference-statistic", choices=STATISTICS,
                        help="the reference's statistic, where it is not --statistic")
    parser.add_argument("--compare", action="append", required=True, metavar="LEVER:REFERENCE",
                        help="compare two copied runs (repeatable)")
    parser.add_argument("--table", default="levers",
                        help="name of the tables written into --out: <table>.csv/.md, <table>_pooled.csv")
    parser.add_argument("--pool", action="append", default=[], metavar="NAME=LEVER:REFERENCE,LEVER:REFERENCE,...",
                        help="pool comparisons of one lever over seeds (each also given as --compare; repeatable)")
    args = parser.parse_args(argv)
    for item in args.pair:
        name, _, run = item.partition("=")
        copy_run(name, Path(run), args.out, args.rescore)
    for item in args.review_copy:
        name, _, folder = item.partition("=")
        import_review_copy(name, Path(folder), args.out)
    rows = [compare(args.out, *item.split(":", 1), args.statistic, args.reference_statistic) for item in args.compare]
    atomic_write_csv(args.out / f"{args.table}.csv", rows, list(rows[0]))
    text = markdown(rows)
    by_pair = {f"{r['lever']}:{r['reference']}": r for r in rows}
    pools = []
    for item in args.pool:
        name, _, members = item.partition("=")
        missing = [m for m in members.split(",") if m not in by_pair]
        if missing:
            raise SystemExit(f"--pool {name}: {missing} not among the --compare pairs")
        pools.append(pooled(name, [by_pair[m] for m in members.split(",")]))
    if pools:
        atomic_write_csv(args.out / f"{args.table}_pooled.csv", pools, list(pools[0]))
        text += "\nOver seeds:\n\n" + pooled_markdown(pools)
    atomic_write_text(args.out / f"{args.table}.md", text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
