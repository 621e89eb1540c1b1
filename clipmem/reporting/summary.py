"""The short summary printed at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COUNTED = {"familiar_pairs": "the pairs with familiar images and captions",  # audit_count_method of a count
           "familiar_captions": "the pairs with familiar captions"}  # ... as runs before the pair region wrote it


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _data_lines(metrics: dict[str, Any]) -> list[str]:
    """Lines about samples left out or worth a look; none when the data loaded whole."""
    lines = []
    skipped, shards = metrics.get("num_skipped", 0), metrics.get("num_truncated_shards", 0)
    if skipped or shards:
        unknown = f" + an unknown number from {shards} truncated shard(s)" if shards else ""
        lines.append(f"  samples skipped          {skipped}{unknown} (skipped_samples.csv)")
    if metrics.get("num_same_image_other_caption"):
        lines.append(f"  same image, other caption {metrics['num_same_image_other_caption']} (kept)")
    return lines


def _design_lines(metrics: dict[str, Any]) -> list[str]:
    """The mis-caption AUC's interval and, for designs with several pairs, how reliable the ranking is."""
    lines = []
    if "miscaption_auc_low" in metrics:
        lines.append(f"  AUC 95 % interval        [{metrics['miscaption_auc_low']:.3f}, "
                     f"{metrics['miscaption_auc_high']:.3f}] (Hanley–McNeil)")
    for key, label in (("miscaption_auc_candidate", "AUC on S_C / S_I"),):
        if key in metrics and "miscaption_auc_independent" in metrics:
            lines.append(f"  {label:<24} {metrics[key]:.3f} / {metrics['miscaption_auc_independent']:.3f}")
    if "consistency_miscaption_auc" in metrics:
        lines.append(f"  AUC of low consistency   {metrics['consistency_miscaption_auc']:.3f}")
    brown = metrics.get("reliability_spearman_brown")
    if brown is not None and brown == brown:  # present and not NaN
        lines.append(f"  CLIPMem reliability      {metrics['reliability_spearman_brown']:.3f} "
                     f"(of the memorization scores, split-half, Spearman–Brown; halves ρ = "
                     f"{metrics['reliability_spearman']:.3f})")
    return lines


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def _count_lines(metrics: dict[str, Any], rows: int) -> list[str]:
    """How many pairs are wrong: the user's prior, or the estimate with its interval, Storey's upper bound and what
    to do when the two disagree."""
    upper = f"at most {_num(metrics['audit_wrong_upper'], 0)} (Storey's bound, no shape assumed)"
    if metrics.get("audit_wrong_fraction_prior") is not None:
        return [f"  wrong pairs (your prior) {_num(metrics['audit_estimated_wrong'], 0)} "
                f"(audit.wrong_fraction={metrics['audit_wrong_fraction_prior']}); the ranks allow {upper}"]
    estimate, low, high = (metrics[f"audit_estimated_wrong{k}"] for k in ("", "_low", "_high"))
    if metrics.get("audit_count_method") in COUNTED:
        how = (f"counted among {COUNTED[metrics['audit_count_method']]} ({metrics['audit_count_observed']} rows "
               "there), where correct pairs seldom rank low; it assumes wrong captions rank like captions of unlike "
               "images (docs/audit.md, \"How many are wrong\"); for a count you check, review the top rows, below")
    else:
        how = ("a rough estimate from the mixture: correct pairs the models cannot predict count as wrong, and the "
               "fitted density of the correct pairs can take in wrong ones; for a count, review the top rows, below")
    lines = [f"  estimated wrong pairs    {_num(estimate, 1)} [{_num(low, 1)}, {_num(high, 1)}] "
             f"({_pct(estimate / max(rows, 1))} of the rows; {how}); {upper}"]
    if metrics.get("audit_estimate_at_bound"):
        lines.append("  WARNING: the estimated count ran to 0, the lower bound of its fit: the correct pairs' fitted "
                     "density took in every low rank, so the ranks do not say how many pairs are wrong; this is not "
                     "evidence that none are, and nothing is flagged at this estimate; read audit.csv as a ranking, or "
                     "set audit.wrong_fraction to your prior (docs/audit.md, \"How many are wrong\")")
    elif metrics.get("audit_estimate_above_upper"):
        lines.append("  WARNING: the estimated count exceeds Storey's bound, which over-estimates the number of wrong "
                     "pairs on average: the count most likely takes in correct pairs the models cannot tell from "
                     "wrong ones (too few training steps, e.g. audit.min_steps=0 or a low trainer.max_epochs, or "
                     "towers too weak for this set), and the flags' precision with it; check the ranking reliability, "
                     "train longer, or set audit.wrong_fraction to your prior (docs/audit.md, \"How many are wrong\")")
    elif not metrics["audit_estimate_stable"]:
        why = (f"only {metrics['audit_count_observed']} rows lie where the count is made, too few to count on"
               if metrics.get("audit_count_method") in COUNTED else
               "the models separate correct from wrong captions too weakly to count them")
        lines.append(f"  WARNING: the estimated count is unstable (its interval is wider than the estimate): {why}; "
                     "read p_miscaptioned as a ranking, review the top rows, or set audit.wrong_fraction to your "
                     "prior (docs/audit.md, \"How many are wrong\")")
    return lines


def _precision_text(metrics: dict[str, Any]) -> str:
    """The flags' expected precision with the interval the estimated count's carries over to it (where there is
    one): measured for the count among familiar pairs, not for the mixture's bootstrap interval."""
    low, high = metrics.get("audit_expected_precision_low"), metrics.get("audit_expected_precision_high")
    text = f"expected precision {_num(metrics['audit_expected_precision'], 2)}"
    if low is None or high is None or low != low or high != high:
        return text
    if metrics.get("audit_count_method") != "familiar_pairs":
        return f"{text} [{_num(low, 2)}, {_num(high, 2)}] (the mixture's interval carried over, not measured)"
    return (f"{text} [{_num(low, 2)}, {_num(high, 2)}] (the count's interval carried over; on the prepared sets its "
            "low end has stayed below the measured precision in every audit measured; docs/audit.md, \"How many are "
            "wrong\")")


def _audit_lines(metrics: dict[str, Any], run_dir: Path) -> list[str]:
    """What a curator acts on: rows audited, the estimated number of wrong pairs, the flags and how sure they are,
    how reproducible the ranking is, where the files are."""
    if "audit_rows" not in metrics:
        return []
    rows, flagged = metrics["audit_rows"], metrics["audit_num_flagged"]
    lines = ["Audit",
             f"  rows audited             {rows} (every pair of the data; skipped rows are listed, not audited)",
             *([f"  reference pairs          {metrics['audit_reference_pairs']} (trusted: every model trained on them, "
                "none audited)"] if metrics.get("audit_reference_pairs") else []),
             *([f"  epochs                   {metrics['max_epochs']}, raised from {metrics['max_epochs_configured']}: "
                "on a set this small those would give each model fewer than audit.min_steps optimizer steps"]
               if "max_epochs_configured" in metrics else []),
             *_count_lines(metrics, rows),
             f"  {'flagged (p ≥ ' + format(metrics['audit_min_probability'], '.2f') + ')':<24} {flagged}"
             + (f": {_precision_text(metrics)}, expected recall {_num(metrics['audit_expected_recall'], 2)} of the "
                "wrong pairs" if flagged else "")]
    reliability = metrics.get("audit_reliability")
    if reliability is None or reliability != reliability:
        lines.append("  ranking reliability      n/a (needs design.repeats ≥ 2)")
    else:
        lines.append(f"  ranking reliability      {_num(reliability)} [{_num(metrics['audit_reliability_low'])}, "
                     f"{_num(metrics['audit_reliability_high'])}] (of the suspicion ranking, split-half, "
                     "Spearman–Brown)")
        if reliability < 0.5:
            lines.append("  WARNING: the ranking is unreliable (below 0.5): another training seed would reorder it; "
                         "train longer, add repeats or start from a base model")
    if "audit_auc" in metrics:
        lines.append(f"  injected mis-captions    {metrics['audit_injected_wrong']}: AUC {_num(metrics['audit_auc'])} "
                     f"[{_num(metrics['audit_auc_low'])}, {_num(metrics['audit_auc_high'])}], flags precision "
                     f"{_num(metrics['audit_flag_precision'], 2)} / recall {_num(metrics['audit_flag_recall'], 2)}")
    if metrics.get("audit_base_overlap"):
        lines.append(f"  WARNING: {metrics['audit_base_overlap']} audited images are in the base model's training data "
                     "(base_overlap in audit.csv): those rows are not audited out of sample")
    if metrics.get("audit_reference_overlap"):
        lines.append(f"  WARNING: {metrics['audit_reference_overlap']} audited images are also reference pairs' images "
                     "(reference_overlap in audit.csv): every model trained on them, so those rows are not audited out "
                     "of sample")
    files = "audit.csv" + (", clean.csv" if "audit_clean_rows" in metrics else "")
    lines.append(f"  files                    {run_dir / 'audit.csv'} ({files}, report/most_suspicious.png)")
    listed = (" (it lists in to_review.csv the rows of the rank order the count also needs)"
              if metrics.get("audit_rank_order", metrics.get("audit_statistic")) != metrics.get("audit_statistic")
              else "")
    lines.append(f"  to count the wrong pairs: mark wrong/correct in a 'verdict' column for the top rows of audit.csv, "
                 f"then  python evaluate.py run_dir={run_dir} review=<that file>{listed}  (docs/audit.md, \"Review "
                 f"the top\")")
    return lines


def _families_lines(metrics: dict[str, Any]) -> list[str]:
    """One line per family of a paradigms run: its score's AUCs, its linear probe and its UnitMem."""
    num = _num

    lines = ["Paradigms summary (AUC of each family's own score, 95 % interval)",
             f"  {'family':<11} {'mislabeled vs clean':<26} {'atypical vs clean':<26} {'linear probe':<13} UnitMem "
             "layer 1 → last"]
    for row in metrics["paradigms"]:
        auc = {k: f"{num(row[f'{k}_auc'])} [{num(row[f'{k}_auc_low'])}, {num(row[f'{k}_auc_high'])}]"
               for k in ("mislabel", "atypical")}
        lines.append(f"  {row['family']:<11} {auc['mislabel']:<26} {auc['atypical']:<26} "
                     f"{_pct(row['linear_probe_top1']):<13} {num(row['unitmem_first_layer'])} → "
                     f"{num(row['unitmem_last_layer'])}")
    return lines


def format_summary(metrics: dict[str, Any], run_dir: Path, sync_commands: list[str] | None = None) -> str:
    """A few lines: mean CLIPMem, clean vs mis-captioned means and AUC, utility of f and g (zero-shot, linear
    probe, retrieval), data problems, and the ``wandb sync`` command of each offline W&B run; for a run with
    several families, one line per family (``_families_lines``)."""
    if "paradigms" in metrics:
        lines = [*_families_lines(metrics), *_data_lines(metrics),
                 f"  run directory            {run_dir} (paradigms.md, report/paradigms.png, families/<family>/)"]
        return "\n".join([*lines, *(f"  offline W&B run: sync it with  {c}" for c in sync_commands or ())])
    lines = [
        "CLIPMem summary",
        f"  pairs scored             {metrics['num_candidates']}",
        f"  mean CLIPMem             {metrics['clipmem_mean']:.3f} (median {metrics['clipmem_median']:.3f})",
    ]
    if "miscaption_auc" in metrics:
        lines += [
            f"  mis-captioned / clean    {metrics['clipmem_mean_miscaptioned']:.3f}"
            f" / {metrics['clipmem_mean_clean']:.3f}   ({metrics['num_miscaptioned']} mis-captioned)",
            f"  mis-caption AUC          {metrics['miscaption_auc']:.3f}",
        ]
    lines += _design_lines(metrics)
    lines += _utility_lines(metrics)
    lines += _data_lines(metrics)
    lines.append(f"  run directory            {run_dir}")
    lines += _audit_lines(metrics, run_dir)
    lines += [f"  offline W&B run: sync it with  {command}" for command in sync_commands or ()]
    return "\n".join(lines)


def _utility_lines(metrics: dict[str, Any]) -> list[str]:
    """Zero-shot and linear-probe top-1 and retrieval R@1 of f and g (or their mean over a design's models)."""
    models = ("f", "g") if "retrieval_i2t_r1_f" in metrics or "zeroshot_top1_f" in metrics else ("mean",)
    label = " f / g" if models == ("f", "g") else " (mean)"

    def pair(key: str) -> str:
        return " / ".join(_pct(metrics.get(f"{key}_{m}")) for m in models)

    lines = []
    for key, name in (("zeroshot_top1", "zero-shot top-1"), ("linear_probe_top1", "linear probe top-1")):
        if f"{key}_{models[0]}" in metrics:
            lines.append(f"  {name + label:<24} {pair(key)}")
    if f"retrieval_i2t_r1_{models[0]}" in metrics:
        lines.append(f"  {'retrieval R@1' + label:<24} image→text {pair('retrieval_i2t_r1')}, "
                     f"text→image {pair('retrieval_t2i_r1')} (on S_E)")
    return lines


def format_layers(analysis: str, curves: dict[str, dict[str, list[float]]], out_dir: Path) -> str:
    """A per-layer analysis (``unitmem`` or ``layermem``) in a few lines: each family's and tower's mean, layer by
    layer."""
    what = {"unitmem": "UnitMem per layer (mean over the units of each layer and the family's models)",
            "layermem": "LayerMem per layer (mean in-minus-out SSLMem statistic of each layer over the scored samples)"}
    lines = [what.get(analysis, analysis)]
    for family, towers in curves.items():
        for tower, values in towers.items():
            lines.append(f"  {family + ' (' + tower + ')':<24} " + "  ".join(f"{v:.3f}" for v in values))
    lines.append(f"  written to               {out_dir} ({analysis}.csv, report/{analysis}.png)")
    return "\n".join(lines)
