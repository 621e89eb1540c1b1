"""How many pairs are wrong, from known-wrong pairs: the target-decoy bound, measured from saved audits.

    python benchmarks/audit_decoy.py FOLDER [FOLDER ...] --out outputs/examples/audit/consensus/count

Each FOLDER is one run's copy written by ``benchmarks/audit_review.py`` (``ranks.csv``: every row's ``rank_joint``,
its rank ``order``, the audit's ``suspicion`` and the injected ``miscaptioned`` flag). Counting with decoys means
adding pairs known to be wrong and reading the count off the rows above a threshold t:

    estimated wrong = #{rows with s ≥ t} / (share of the known-wrong pairs with s ≥ t),

an over-count by 1 / precision(t) in expectation, since the correct pairs above t count as wrong. Two designs:

* **oracle decoys**: infinitely many decoys ranked exactly like the injected wrong pairs (the best any decoy can
  do): the ratio estimated / injected is 1 / precision of the rows above t, no noise added;
* **uniform null**: no decoys; the share of wrong pairs above t is what a wrong pair's uniform rank puts there
  (``flag_recall``, within the familiarity groups for ``rank_by_familiarity``): Storey's count with its threshold at
  the top (rank statistics only: ``consensus`` has no such null);
* **spike-in**: half of the injected pairs (drawn at random) play the known spikes, the other half the unknown wrong
  pairs whose count is estimated, t the top share of the other rows: a set with 5 % wrong pairs to which the
  auditor added 5 % exchanged captions, ranked as the saved run ranked them (it trained on the same 10 %).

Writes ``decoy.csv`` (per run, statistic, design and share) and ``decoy.md``. Nothing is trained.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from audit_review import load
from common import write_table
from tabulate import tabulate

from clipmem.audit.mixture import flag_recall

TOLERANCE = 0.25  # the target: within 25 % of the injected count
SHARES = (0.01, 0.02, 0.05, 0.1)  # t: the score of the row at this share from the top
SPIKE_DRAWS = 200
SEED = 0


def over_threshold(score: np.ndarray, share: float) -> np.ndarray:
    """(N,) bool: rows whose ``score`` (N,) reaches that of the row at ``share`` from the top (ties included)."""
    k = max(1, round(share * len(score)))
    return score >= np.sort(score)[::-1][k - 1]


def oracle_ratio(score: np.ndarray, wrong: np.ndarray, share: float) -> float:
    """Estimated / injected count with decoys ranked exactly like the ``wrong`` (N,) pairs: 1 / precision."""
    above = over_threshold(score, share)
    return float(above.sum() / max(int(wrong[above].sum()), 1e-9))


def uniform_null_ratio(score: np.ndarray, u: np.ndarray, groups: np.ndarray | None, wrong: np.ndarray,
                       share: float) -> float:
    """Estimated / injected count when the share of wrong pairs above t is taken from their uniform mid-ranks ``u``
    (N,) (``flag_recall``, within ``groups`` (N,) when given) instead of from decoys."""
    above = over_threshold(score, share)
    return float(above.sum() / flag_recall(u, above, groups) / wrong.sum())


def spike_ratios(score: np.ndarray, wrong: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """(SPIKE_DRAWS,) estimated / true count of the unknown half of the ``wrong`` pairs, the other half (drawn anew
    each time) known spikes; t the top ``share`` of the rows that are not spikes."""
    wrong_rows = np.flatnonzero(wrong)
    ratios = np.empty(SPIKE_DRAWS)
    for draw in range(SPIKE_DRAWS):
        spikes = rng.choice(wrong_rows, len(wrong_rows) // 2, replace=False)
        rest = np.ones(len(score), bool)
        rest[spikes] = False
        above = over_threshold(score[rest], share)
        threshold = score[rest][above].min()
        caught = float((score[spikes] >= threshold).mean())
        ratios[draw] = above.sum() / max(caught, 1e-9) / wrong[rest].sum()
    return ratios


def run_rows(folder: Path, rng: np.random.Generator) -> list[dict]:
    """One row per statistic, design and share of one run's copy."""
    ranks, wrong, metrics, suspicion = load(folder)
    statistic = metrics["audit_statistic"]
    scores = {"rank_joint": ranks.p, statistic: suspicion}
    if statistic != "rank_by_familiarity" and ranks.order is not None:
        scores["rank_by_familiarity"] = ranks.order  # the rank order of a consensus audit
    u = ranks.p - 0.5 / ranks.compared  # the audit's mid-ranks of rank_joint
    null_groups = {"rank_joint": None, "rank_by_familiarity": ranks.groups}
    data, seed = folder.name.rsplit("_seed", 1)
    rows = []
    for statistic, score in scores.items():
        for share in SHARES:
            spikes = spike_ratios(score, wrong, share, rng)
            rows.append({"run": folder.name, "data": data, "seed": int(seed), "statistic": statistic,
                         "share": share, "oracle_ratio": round(oracle_ratio(score, wrong, share), 3),
                         "uniform_null_ratio": round(uniform_null_ratio(score, u, null_groups[statistic], wrong,
                                                                        share), 3)
                         if statistic in null_groups else None,
                         "spike_median_ratio": round(float(np.median(spikes)), 3),
                         "spike_within": round(float(np.mean(np.abs(spikes - 1) <= TOLERANCE)), 3)})
    return rows


def markdown(rows: list[dict]) -> str:
    """Per data set, statistic and share: the oracle ratios of every run, how many lie within 25 %, and the spike-in
    design's median ratio and share of draws within 25 % (range over the runs)."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        cells[row["data"], row["statistic"], row["share"]].append(row)
    table = []
    for (data, statistic, share), chosen in sorted(cells.items()):
        chosen.sort(key=lambda r: r["seed"])
        oracle, null = [r["oracle_ratio"] for r in chosen], [r["uniform_null_ratio"] for r in chosen]
        medians, within = [r["spike_median_ratio"] for r in chosen], [r["spike_within"] for r in chosen]
        table.append([data, statistic, f"{share:.0%}", ", ".join(f"{r:.2f}" for r in oracle),
                      f"{sum(abs(r - 1) <= TOLERANCE for r in oracle)} of {len(oracle)}",
                      "" if None in null else ", ".join(f"{r:.2f}" for r in null),
                      "" if None in null else f"{sum(abs(r - 1) <= TOLERANCE for r in null)} of {len(null)}",
                      f"{min(medians):.2f}–{max(medians):.2f}", f"{min(within):.2f}–{max(within):.2f}"])
    runs = ", ".join(sorted({r["run"] for r in rows}))
    return ("# Counting with decoys: the target-decoy bound\n\nEstimated / injected number of wrong pairs when the "
            "count is read off the rows above the score of the row at a share from the top, against known-wrong "
            f"pairs (runs: {runs}). Target: within {TOLERANCE:.0%}.\n\n"
            + tabulate(table, ["data", "statistic", "t at top", "oracle decoys, ratio per seed", "within 25 %",
                               "uniform null, ratio per seed", "within 25 % ", "spike-in: median ratio (runs)",
                               "spike-in: draws within 25 %"], tablefmt="github")
            + "\n\n- **oracle decoys**: infinitely many decoys ranked exactly like the injected wrong pairs; the "
              "ratio is 1 / precision of the rows above t.\n- **uniform null**: no decoys, the wrong pairs' share "
              "above t from their uniform ranks (rank statistics only).\n- **spike-in**: half the injected pairs "
              f"known (a set with 5 % wrong pairs plus 5 % spiked), {SPIKE_DRAWS} random halves per run.\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_decoy.py", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run copies written by benchmarks/audit_review.py")
    parser.add_argument("--out", type=Path, required=True, help="folder for decoy.csv and decoy.md")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    rows = [row for folder in args.folders for row in run_rows(folder, rng)]
    write_table(args.out, "decoy", rows, markdown(rows))


if __name__ == "__main__":
    main()
