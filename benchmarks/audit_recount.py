"""How many pairs are wrong and how precise the flags are, recomputed from finished audits with the current code.

    python benchmarks/audit_recount.py --out outputs/examples/audit/image_tower/recount <run dir> [<run dir> ...]

Each run dir is a finished ``experiment=audit_*`` run with injected mis-captions. Its plan is rebuilt from its config
and splits.json, every model's saved statistics are read and the audit's estimate (``estimate_audit``) is run again:
nothing is trained. Per run: the injected number of wrong pairs, the estimate (among familiar pairs,
``clipmem.audit.count``) with its interval, the count's region before it read the image (``caption_region_*``: among
familiar captions, by their caption rank, with the flags at its share), the free mixture's N·π beside it, and the
flagged set's predicted (``audit_expected_precision``) and measured precision, and the same for the estimator before
it (the free mixture's π, with flags π w_g / f_g(u) and the precision π N recall / #flagged) and for flags that take
wrong pairs as common in every familiarity group (``unweighted_*``: the flags before ``familiarity_weight``). Also
how many counted pairs were injected and the count had only those been counted (``oracle_ratio``: the count's
sampling noise alone), the flags' precision interval carried over from the count's (``precision_low``,
``precision_high``, ``precision_covered``) and the measured precision's own binomial spread (``precision_sd``,
``exact_within_0.10``), and where the wrong pairs lie among the familiarity groups against the groups' weights. Per
data set and pooled, the paired difference over runs of the estimators' errors (|log(estimated / injected)| and
|predicted − measured precision|), mean with a t-interval. Writes ``recount.csv``, ``recount.md`` and
``counted.csv`` (every row either region counts: path, caption, injected); prints the tables.
``--familiar-quantile`` and ``--rank-threshold`` move the counting region's familiarity cut and rank threshold
(``audit.count_familiar_quantile``, ``audit.count_rank_threshold``) to measure them as levers.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import torch
from audit_ablation import saved_run
from audit_recount_stats import paired, precision_error
from common import write_table
from scipy import stats as scipy_stats
from tabulate import tabulate

from clipmem.audit import count
from clipmem.audit.config import AuditConfig
from clipmem.audit.estimate import estimate_audit
from clipmem.audit.familiarity import grouped_probability
from clipmem.audit.mixture import expected_precision
from clipmem.io import atomic_write_csv

TOLERANCE = 0.25  # docs/audit.md's target: the count within 25 % of the injected one
PRECISION_TOLERANCE = 0.10  # ... and the flags' measured precision within 0.10 of the predicted one
CAPTION_QUANTILE = 0.7  # the count's region before it read the image: captions more familiar than 70 % of the set's


def recount(root: Path, where: count.CountRegion) -> tuple[dict, list[dict]]:
    """One run's row (data, seed, injected and estimated counts, the flags' predicted and measured precision) and
    the rows either counting region holds (``counted_listing``), the count counted ``where`` says."""
    cfg, settings, plan, stats, flags = saved_run(root)
    result = estimate_audit(stats, plan, AuditConfig(**{
        **vars(settings.audit), "enabled": True, "count_familiar_quantile": where.familiar_quantile,
        "count_rank_threshold": where.rank_threshold}))
    caption_count = caption_region_count(stats, plan.membership(), result)
    metrics, injected = result.metrics(), int(flags.sum())
    flagged = result.flagged
    measured = float((flagged & flags).sum() / flagged.sum()) if flagged.any() else float("nan")
    estimate = metrics["audit_estimated_wrong"]
    return {
        "data": str(cfg.get("name", root.name)).removeprefix("audit_"), "seed": int(settings.seed), "run": root.name,
        "rows": len(flags), "injected": injected, "estimated": round(estimate, 1),
        "low": round(metrics["audit_estimated_wrong_low"], 1), "high": round(metrics["audit_estimated_wrong_high"], 1),
        "upper": round(metrics["audit_wrong_upper"], 1),
        "ratio": round(estimate / injected, 3), "within_25": abs(estimate / injected - 1) <= TOLERANCE,
        "counted_rows": metrics.get("audit_count_observed"), "method": metrics["audit_count_method"],
        "mixture_ratio": round(metrics["audit_mixture_wrong"] / injected, 3),
        "flagged": int(flagged.sum()), "predicted_precision": round(metrics["audit_expected_precision"], 3),
        "measured_precision": round(measured, 3),
        "precision_within_0.10": abs(metrics["audit_expected_precision"] - measured) <= PRECISION_TOLERANCE,
        "precision_low": round(metrics["audit_expected_precision_low"], 3),
        "precision_high": round(metrics["audit_expected_precision_high"], 3),
        "precision_covered": metrics["audit_expected_precision_low"] <= measured
        <= metrics["audit_expected_precision_high"],
        "predicted_recall": round(metrics["audit_expected_recall"], 3),
        "flag_recall": round(float((flagged & flags).sum() / max(injected, 1)), 3),
        **sampling_noise(result, flags), **precision_noise(metrics["audit_expected_precision"], int(flagged.sum())),
        **where_wrong_pairs_lie(result, flags),
        **flags_at(result, flags, "mixture", result.mixture_wrong / len(flags)),
        **flags_at(result, flags, "unweighted", result.fit.wrong_fraction, weighted=False),
        **caption_region(result, flags, caption_count),
    }, counted_listing(root, plan.scored_ids, result, flags, caption_count.counted)


def caption_region_count(stats: list, membership: torch.Tensor, result) -> count.FamiliarCount:
    """The count in the region before it read the image: pairs whose caption is more familiar than
    ``CAPTION_QUANTILE`` of the set's and whose caption mid-rank ``caption_ranks`` is above 1/2."""
    image, text = torch.stack([s.image for s in stats]), torch.stack([s.text for s in stats])
    captions = result.statistics["caption_familiarity"]
    familiar = captions > torch.quantile(captions, CAPTION_QUANTILE)

    def region(index: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        return (count.caption_ranks(similarity) > 0.5) & familiar[index].unsqueeze(0)

    return count.count_in_region(image, text, membership, region)


def caption_region(result, flags: torch.Tensor, caption_count: count.FamiliarCount) -> dict:
    """``caption_region_*``: the caption region's count as a ratio to the injected one, that ratio had only the
    injected pairs been counted, and the flags at its share (NaN where it has no null share)."""
    if not math.isfinite(caption_count.estimate):  # no caption of the region to count with
        return {"caption_region_ratio": math.nan, "caption_region_oracle_ratio": math.nan,
                **{f"caption_region_{k}": math.nan for k in ("flagged", "predicted_precision", "measured_precision",
                                                              "flag_recall")}}
    share = count.familiar_count_fraction(caption_count, len(flags))
    return {"caption_region_ratio": round(caption_count.estimate / max(int(flags.sum()), 1), 3),
            "caption_region_oracle_ratio": oracle_ratio(caption_count, flags),
            **flags_at(result, flags, "caption_region", share)}


def counted_listing(root: Path, ids: list[int], result, flags: torch.Tensor, caption_counted: torch.Tensor
                    ) -> list[dict]:
    """The rows the count's region (``pair_region``) or the caption region holds, with the run's audit.csv ``path``
    and ``caption`` and whether the run injected the pair: what each region counts, pair by pair."""
    with (root / "audit.csv").open(newline="") as f:
        source = {int(r["sample_id"]): r for r in csv.DictReader(f)}
    pair = result.count.counted if result.count is not None else torch.zeros_like(caption_counted)
    return [{"run": root.name, "sample_id": ids[i], "path": source[ids[i]]["path"],
             "caption": source[ids[i]]["caption"], "injected": bool(flags[i]), "pair_region": bool(pair[i]),
             "caption_region": bool(caption_counted[i])} for i in (pair | caption_counted).nonzero().flatten().tolist()]


def sampling_noise(result, flags: torch.Tensor) -> dict:
    """How many of the counted pairs were injected, and the count had no correct pair been counted (``oracle_ratio``:
    injected among counted / null share / injected): what the count's sampling noise alone leaves."""
    if result.count is None:
        return {"wrong_counted": None, "oracle_ratio": None}
    return {"wrong_counted": int((result.count.counted & flags).sum()),
            "oracle_ratio": oracle_ratio(result.count, flags)}


def oracle_ratio(found: count.FamiliarCount, flags: torch.Tensor) -> float:
    """The count had only the injected pairs (``flags`` (N,)) in its region been counted, over the injected count."""
    return round(int((found.counted & flags).sum()) / found.null_share / max(int(flags.sum()), 1), 3)


def precision_noise(predicted: float, flagged: int) -> dict:
    """How far the flags' measured precision strays from an exact prediction by chance alone: its binomial standard
    deviation sqrt(p (1 − p) / F) for ``flagged`` F pairs of ``predicted`` precision p, and the probability that a
    Binomial(F, p) share of hits lands within ``PRECISION_TOLERANCE`` of p (``exact_within_0.10``: the chance that
    this run meets the target were the prediction exact; a bound, as pairs of unequal probability spread less)."""
    if flagged == 0 or not math.isfinite(predicted):
        return {"precision_sd": None, "exact_within_0.10": None}
    hits = np.arange(flagged + 1)
    near = np.abs(hits / flagged - predicted) <= PRECISION_TOLERANCE + 1e-12
    return {"precision_sd": round(math.sqrt(predicted * (1 - predicted) / flagged), 3),
            "exact_within_0.10": round(float(scipy_stats.binom.pmf(hits[near], flagged, predicted).sum()), 3)}


def where_wrong_pairs_lie(result, flags: torch.Tensor) -> dict:
    """The familiarity groups' weights (``familiarity_weight``) beside the injected pairs' own share per group over
    their share of all pairs, and the correlation of a pair's image and caption familiarities among the injected
    and among the other pairs (docs/audit.md, "Where wrong pairs lie")."""
    values, wrong = result.statistics, flags.numpy()
    caption, image = values["caption_familiarity"].numpy(), values["image_familiarity"].numpy()
    groups = values["familiarity_group"].numpy().astype(int)
    weights = values["familiarity_weight"].numpy()
    per_group = [(weights[groups == g][0], wrong[groups == g].mean() / wrong.mean()) for g in np.unique(groups)]
    weight, share = np.array(per_group).T
    return {"weight_min": round(weight.min(), 2), "weight_max": round(weight.max(), 2),
            "wrong_share_min": round(share.min(), 2), "wrong_share_max": round(share.max(), 2),
            "weight_share_correlation": round(float(np.corrcoef(weight, share)[0, 1]), 3) if len(weight) > 2 else None,
            "familiarity_correlation_wrong": round(float(np.corrcoef(image[wrong], caption[wrong])[0, 1]), 3),
            "familiarity_correlation_correct": round(float(np.corrcoef(image[~wrong], caption[~wrong])[0, 1]), 3)}


def flags_at(result, flags: torch.Tensor, tag: str, share: float, weighted: bool = True) -> dict:
    """The flags and predicted precision at another share π of wrong pairs (``mixture``: the free mixture's, the
    estimator before the count) or with wrong pairs taken as common in every familiarity
    group (``weighted=False``: the estimator before ``familiarity_weight``)."""
    u, groups = result.ranks.numpy(), result.groups.numpy()
    weights = None if result.weights is None or not weighted else result.weights.numpy()
    flagged = grouped_probability(u, groups, share, weights) >= result.min_probability
    hits = int((torch.from_numpy(flagged) & flags).sum())
    measured = hits / flagged.sum() if flagged.any() else float("nan")
    return {f"{tag}_flagged": int(flagged.sum()),
            f"{tag}_predicted_precision": round(expected_precision(u, flagged, share, groups, weights), 3),
            f"{tag}_measured_precision": round(float(measured), 3),
            f"{tag}_flag_recall": round(hits / max(int(flags.sum()), 1), 3)}


def markdown(rows: list[dict], where: count.CountRegion) -> str:
    """The per-run table and, per data set, how many runs meet each target (the count counted ``where``)."""
    lines = ["# The count among familiar pairs, recomputed from saved audits", "",
             f"Counting region: image + caption familiarity above {where.familiar_quantile:.0%} of the pairs' sums, "
             f"joint mid-rank above {where.rank_threshold}; the null leaves out the captions of the "
             f"{count.NEAR_IMAGES:.0%} of each block's images most like the pair's. caption_region_*: the region "
             f"before (captions more familiar than {CAPTION_QUANTILE:.0%} of the set's, caption mid-rank above 0.5).",
             "",
             tabulate(rows, headers="keys", tablefmt="github"), "", "| data | runs | count within 25 % | "
             "precision within 0.10 | precision inside its interval | were it exact (expected runs) | "
             "without weights | ratio range | oracle ratio range | mixture ratio range | "
             "caption region: within 25 % | caption region: precision within 0.10 | caption region ratio range |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    pairs = paired(rows)
    for data in sorted({r["data"] for r in rows}):
        mine = [r for r in rows if r["data"] == data]
        ratios, mixture = [r["ratio"] for r in mine], [r["mixture_ratio"] for r in mine]
        oracle = [r["oracle_ratio"] for r in mine if r["oracle_ratio"] is not None] or [math.nan]
        unweighted = sum(precision_error(r, "unweighted_") <= PRECISION_TOLERANCE for r in mine)
        lines.append(f"| {data} | {len(mine)} | {sum(r['within_25'] for r in mine)} | "
                     f"{sum(r['precision_within_0.10'] for r in mine)} | {sum(r['precision_covered'] for r in mine)} | "
                     f"{exact_within(mine)} | {unweighted} | "
                     f"{min(ratios):.2f}–{max(ratios):.2f} | {min(oracle):.2f}–{max(oracle):.2f} | "
                     f"{min(mixture):.2f}–{max(mixture):.2f} | {caption_region_summary(mine)} |")
    lines += ["", "Over runs, the count's mean `count_ratio` and the flags' mean `precision_bias` (predicted − "
              "measured); paired, this estimator's error minus another's: `count_error_difference` and "
              "`precision_error_difference` against the mixture's, `region_*` against the caption region's, "
              "`weights_*` against equal shares (negative errors: this one errs less):", "",
              tabulate(pairs, headers="keys", tablefmt="github")]
    return "\n".join(lines) + "\n"


def exact_within(rows: list[dict]) -> str:
    """The expected number of ``rows`` whose flags' measured precision lands within 0.10 of an exact prediction."""
    return f"{sum(r['exact_within_0.10'] or 0.0 for r in rows):.1f}"


def caption_region_summary(rows: list[dict]) -> str:
    """The previous region's runs within 25 %, within 0.10 of precision, and ratio range, as table cells."""
    ratios = [r["caption_region_ratio"] for r in rows]
    within = sum(abs(r - 1) <= TOLERANCE for r in ratios)
    precise = sum(precision_error(r, "caption_region_") <= PRECISION_TOLERANCE for r in rows)
    return f"{within} | {precise} | {min(ratios):.2f}–{max(ratios):.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    defaults = count.CountRegion()
    parser.add_argument("--familiar-quantile", type=float, default=defaults.familiar_quantile,
                        help="count among pairs whose image + caption familiarity exceeds this share of the "
                        "pairs' sums (a lever to measure)")
    parser.add_argument("--rank-threshold", type=float, default=defaults.rank_threshold,
                        help="count pairs whose joint mid-rank is above this (a lever to measure)")
    args = parser.parse_args(argv)
    where = count.CountRegion(args.familiar_quantile, args.rank_threshold)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows, listings = zip(*(recount(run, where) for run in args.runs), strict=True)
    write_table(args.out, "recount", list(rows), markdown(list(rows), where))
    listing = [row for rows_of_run in listings for row in rows_of_run]
    if listing:
        atomic_write_csv(args.out / "counted.csv", listing, list(listing[0]))


if __name__ == "__main__":
    main()
