"""The audit's ablation from finished ``experiment=audit_*`` runs (design=crossfit, injected mis-captions).

    python benchmarks/audit_ablation.py --out outputs/examples/audit <run dir> [<run dir> ...]

For every run, and for its first r repeats (r = 1 .. R: fewer models without retraining): the AUC of every suspicion
statistic, DeLong's paired comparison of the default statistic with the ensemble CLIP score (``low_alignment``, the
same models' fair baseline) and with the other statistics, the estimated number of wrong pairs beside the injected
one, the flagged set's predicted and measured precision, the ranking's reliability and the run's wall time. Rows of
the same setting over several seeds are then combined: AUCs as means with a t-interval on the logit scale (bounded
to [0, 1]) and paired differences as an inverse-variance weighted mean of the per-seed DeLong differences (each
seed is an independent injection, partition and training). Reads only the runs' files: nothing is retrained.
Writes ``ablation.csv`` (one row per run and r), ``ablation.md`` and ``ablation_settings.csv``; prints the tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf
from scipy import stats as scipy_stats
from tabulate import tabulate

from clipmem.audit.config import AuditConfig
from clipmem.audit.estimate import estimate_audit
from clipmem.audit.mixture import expected_precision, flag_recall
from clipmem.audit.statistics import STATISTICS
from clipmem.config import register
from clipmem.config.legacy import saved_run_config
from clipmem.config.settings import load_settings
from clipmem.data.splits.manifest import SplitManifest
from clipmem.errors import RunDirError
from clipmem.evaluation.auc import auc_interval, flag_auc
from clipmem.evaluation.delong import paired_auc
from clipmem.io import atomic_write_csv, atomic_write_text
from clipmem.models.sentence_text import sentence_encoder_of
from clipmem.plan.fit import saved_statistics
from clipmem.rundir import RunDir
from clipmem.scoring.statistics import load_statistics

register()  # resolvers and schemas for the runs' saved configs

BASELINE = "low_alignment"


def setting_of(cfg, settings, repeats: int, base: str | None) -> dict:
    """What distinguishes a setting: data, epochs, folds, repeats, model input, text tower, base, lr, scoring views."""
    model = cfg.model
    return {"data": str(cfg.name), "epochs": int(cfg.trainer.max_epochs), "folds": settings.design.folds,
            "repeats": repeats, "image_size": int(model.image_size),
            "patch": int(model.arch.vision_cfg.patch_size) if not isinstance(model.arch, str) else 0,
            "text": sentence_encoder_of(model.arch) or "scratch",
            "base": Path(base.split(":", 1)[-1]).parent.parent.name if base else "no", "lr": float(model.optimizer.lr),
            "views": int(cfg.scoring.num_views)}


def saved_run(root: Path, scoring: dict | None = None):
    """(config, settings, plan, every model's saved statistics in plan order, injected flags (N,)) of a finished
    audit run (``scoring``: the statistics saved under other ``scoring.*`` settings, from ``evaluate.py
    run_dir=<run> scoring.<key>=<value>``)."""
    run = RunDir(root)
    cfg = saved_run_config(run.config, run.root, scoring)
    settings = load_settings(cfg)
    manifest = SplitManifest.read(run.splits)
    plan = settings.design.plan(manifest, settings.seed)
    flags = torch.tensor([i in set(manifest.miscaptioned) for i in plan.scored_ids])
    try:
        stats = saved_statistics(plan, manifest.sha256, settings.scoring, run)
    except RunDirError:  # a run from before each repeat drew its own views: its models share one statistics key
        stats = [load_statistics(next(run.model(spec.name).glob("sample_stats-*.safetensors"))) for spec in plan.specs]
    return cfg, settings, plan, stats, flags


def rescored_audit(root: Path, config: AuditConfig | None = None):
    """(plan, the current estimator's audit from the run's saved statistics under ``config``, injected flags (N,))."""
    _, _, plan, stats, flags = saved_run(root)
    return plan, estimate_audit(stats, plan, config or AuditConfig()), flags


def run_rows(root: Path, statistic: str, scoring: dict | None = None) -> list[dict]:
    """One row per number of repeats r (1 .. R) of one run (``scoring``: as ``saved_run``)."""
    run = RunDir(root)
    cfg, settings, plan, stats, flags = saved_run(root, scoring)
    status, rows = json.loads(run.status.read_text()), []  # trained: the epochs audit.min_steps may have raised
    trained = json.loads(run.metrics.read_text()).get("max_epochs") if run.metrics.is_file() else None
    for repeats in range(1, settings.design.repeats + 1):
        keep = [g < repeats for g in plan.groups]
        sub = plan.__class__(specs=tuple(s for s, k in zip(plan.specs, keep, strict=True) if k),
                             scored_ids=plan.scored_ids, sets=plan.sets,
                             groups=tuple(g for g, k in zip(plan.groups, keep, strict=True) if k), seed=plan.seed,
                             contrast_reference=plan.contrast_reference)
        result = estimate_audit([s for s, k in zip(stats, keep, strict=True) if k], sub,
                                AuditConfig(statistic=statistic))
        base = OmegaConf.load(run.config).model.get("pretrained")
        setting = {**setting_of(cfg, settings, repeats, base), **({"epochs": trained} if trained else {})}
        rows.append(measure(root, setting, result, flags, status))
    return rows


def measure(root: Path, setting: dict, result, flags: torch.Tensor, status: dict) -> dict:
    """AUCs, paired comparisons, calibration and time of one audit."""
    n_pos, n_neg = int(flags.sum()), int((~flags).sum())
    row = {"run": root.name, "seed": int(root.name.rsplit("seed", 1)[-1]) if "seed" in root.name else -1, **setting}
    values = {name: result.statistics[name].numpy() for name in STATISTICS}
    default = result.statistic
    for name in STATISTICS:
        row[f"auc_{name}"] = flag_auc(result.statistics[name], flags)
    _, row["auc_low"], row["auc_high"] = auc_interval(row[f"auc_{default}"], n_pos, n_neg)
    for name in STATISTICS:
        if name != default:
            paired = paired_auc(values[default], values[name], flags.numpy())
            row[f"diff_vs_{name}"], row[f"se_vs_{name}"], row[f"p_vs_{name}"] = (paired.difference, paired.stderr,
                                                                                  paired.p_value)
    flagged = result.flagged
    metrics = result.metrics()
    row.update({
        "injected": n_pos, "estimated_wrong": metrics["audit_estimated_wrong"],
        "estimated_low": metrics["audit_estimated_wrong_low"], "estimated_high": metrics["audit_estimated_wrong_high"],
        "flagged": int(flagged.sum()), "predicted_precision": metrics["audit_expected_precision"],
        "measured_precision": float(flags[flagged].double().mean()) if flagged.any() else math.nan,
        "recall": float((flags & flagged).sum() / max(n_pos, 1)), "reliability": metrics["audit_reliability"],
        "expected_recall": metrics["audit_expected_recall"], "upper": metrics["audit_wrong_upper"],
        **at_true_share(result, flags.numpy()),
        "oof_r1": metrics["audit_oof_r1"], "wall_s": status.get("wall_s"),
        "train_s": sum(v.get("train", 0.0) for v in status.get("seconds", {}).values()),
    })
    return row


TOP_SHARES = (0.1, 0.3)


def at_true_share(result, truth: np.ndarray) -> dict[str, float]:
    """Calibration given the true share of wrong pairs (what a user's correct ``audit.wrong_fraction`` gives): for
    the top 10 % and 30 % of the rank order (the suspicion, or ``rank_by_familiarity`` for ``consensus``; within
    familiarity groups where it reads ranks there), the predicted and measured precision and recall."""
    u, suspicion = result.ranks.numpy(), result.rank_order().numpy()
    groups, weights = (None if v is None else v.numpy() for v in (result.groups, result.weights))
    share, out = float(truth.mean()), {}
    for top in TOP_SHARES:
        flagged = suspicion >= np.quantile(suspicion, 1 - top)
        tag = f"top{round(top * 100)}"
        out[f"{tag}_precision_pred"] = expected_precision(u, flagged, share, groups, weights)
        out[f"{tag}_precision"] = float(truth[flagged].mean())
        out[f"{tag}_recall_pred"] = flag_recall(u, flagged, groups, weights)
        out[f"{tag}_recall"] = float(truth[flagged].sum() / max(truth.sum(), 1))
    return out


def logit_mean_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of proportions with a t-interval computed on the logit scale and mapped back (stays in [0, 1])."""
    x = np.clip(np.asarray(values, dtype=np.float64), 1e-6, 1 - 1e-6)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    z = np.log(x / (1 - x))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, len(x) - 1)) * z.std(ddof=1) / math.sqrt(len(x))
    inv = lambda v: float(1 / (1 + math.exp(-v)))  # noqa: E731
    return mean, inv(z.mean() - half), inv(z.mean() + half)


def combined_difference(diffs: list[float], ses: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Inverse-variance weighted mean of independent paired differences and its interval (clipped to [−1, 1])."""
    w = np.array([1 / s ** 2 if s > 0 else 0.0 for s in ses])
    if w.sum() == 0:
        return float(np.mean(diffs)), math.nan, math.nan
    mean = float((w * np.asarray(diffs)).sum() / w.sum())
    half = float(scipy_stats.norm.ppf(0.5 + level / 2)) / math.sqrt(w.sum())
    return mean, max(-1.0, mean - half), min(1.0, mean + half)


SETTING_KEYS = ("data", "epochs", "folds", "repeats", "image_size", "patch", "text", "base", "lr", "views")


def settings_rows(rows: list[dict], default: str) -> list[dict]:
    """One row per setting: seeds, mean AUCs (logit t-interval), combined paired differences, calibration, time."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in SETTING_KEYS)].append(row)
    out = []
    for key, members in groups.items():
        entry = dict(zip(SETTING_KEYS, key, strict=True))
        entry["seeds"] = len(members)
        for name in STATISTICS:
            mean, low, high = logit_mean_interval([m[f"auc_{name}"] for m in members])
            entry[f"auc_{name}"] = mean
            if name in (default, BASELINE):
                entry[f"auc_{name}_low"], entry[f"auc_{name}_high"] = low, high
        for name in STATISTICS:
            if name != default:
                entry[f"diff_vs_{name}"], entry[f"diff_vs_{name}_low"], entry[f"diff_vs_{name}_high"] = \
                    combined_difference([m[f"diff_vs_{name}"] for m in members], [m[f"se_vs_{name}"] for m in members])
        calibration = [f"top{round(t * 100)}_{k}" for t in TOP_SHARES
                       for k in ("precision_pred", "precision", "recall_pred", "recall")]
        for field in ("injected", "estimated_wrong", "upper", "flagged", "predicted_precision", "measured_precision",
                      "recall", "expected_recall", "reliability", "wall_s", "train_s", *calibration):
            values = [m[field] for m in members if m[field] is not None and m[field] == m[field]]
            entry[field] = float(np.mean(values)) if values else math.nan
        out.append(entry)
    return out


def _number(text: str):
    """A CSV cell back as the number it was written from (strings that are not numbers stay strings)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.3f}"
    return str(value)


def markdown(settings: list[dict], default: str) -> str:
    """The settings table (AUC of the default with interval, the baseline, the paired difference, calibration)."""
    pooled = "rank_joint" if default != "rank_joint" else None  # what the default reads within groups, if it does
    head = ["data", "epochs", "folds", "repeats", "px/patch", "text", "base", "lr", "seeds", f"AUC {default}",
            f"AUC {BASELINE}", "paired diff vs baseline", *([f"paired diff vs {pooled}"] if pooled else []),
            "wrong: est / injected", "precision: pred / measured", "reliability", "train s"]
    body = []
    for s in settings:
        versus = [f"{s[f'diff_vs_{pooled}']:+.3f} [{s[f'diff_vs_{pooled}_low']:+.3f}, "
                  f"{s[f'diff_vs_{pooled}_high']:+.3f}]"] if pooled else []
        body.append([s["data"], s["epochs"], s["folds"], s["repeats"], f"{s['image_size']}/{s['patch']}",
                     s.get("text", "scratch"), s["base"],
                     f"{s['lr']:g}", s["seeds"],
                     f"{_fmt(s[f'auc_{default}'])} [{_fmt(s[f'auc_{default}_low'])}, {_fmt(s[f'auc_{default}_high'])}]",
                     f"{_fmt(s[f'auc_{BASELINE}'])}",
                     f"{s[f'diff_vs_{BASELINE}']:+.3f} [{s[f'diff_vs_{BASELINE}_low']:+.3f}, "
                     f"{s[f'diff_vs_{BASELINE}_high']:+.3f}]", *versus,
                     f"{s['estimated_wrong']:.0f} / {s['injected']:.0f}",
                     f"{_fmt(s['predicted_precision'])} / {_fmt(s['measured_precision'])}",
                     _fmt(s["reliability"]), f"{s['train_s']:.0f}"])
    statistics = [[s["data"], s["epochs"], s["repeats"], s.get("text", "scratch"), s["seeds"],
                   *(_fmt(s[f"auc_{n}"]) for n in STATISTICS)] for s in settings]
    return (tabulate(body, head, tablefmt="github") + "\n\nMean AUC of every statistic:\n\n"
            + tabulate(statistics, ["data", "epochs", "repeats", "text", "seeds", *STATISTICS], tablefmt="github")
            + "\n\nCalibration (means over seeds):\n\n" + calibration_markdown(settings) + "\n")


def calibration_markdown(settings: list[dict]) -> str:
    """Wrong pairs estimated, bounded and injected; the flags' predicted and measured precision and recall; and, given
    the true share, predicted against measured precision and recall of the top 10 % and 30 % of the ranks."""
    head = ["data", "epochs", "repeats", "text", "seeds", "wrong: est / upper / injected", "flagged",
            "flag precision: pred / measured", "flag recall: pred / measured",
            *(f"top {round(t * 100)} %, true share: precision; recall (pred / measured)" for t in TOP_SHARES)]
    body = []
    for s in settings:
        tops = [f"{_fmt(s[f'top{round(t * 100)}_precision_pred'])} / {_fmt(s[f'top{round(t * 100)}_precision'])}; "
                f"{_fmt(s[f'top{round(t * 100)}_recall_pred'])} / {_fmt(s[f'top{round(t * 100)}_recall'])}"
                for t in TOP_SHARES]
        body.append([s["data"], s["epochs"], s["repeats"], s.get("text", "scratch"), s["seeds"],
                     f"{s['estimated_wrong']:.0f} / {s['upper']:.0f} / {s['injected']:.0f}", f"{s['flagged']:.0f}",
                     f"{_fmt(s['predicted_precision'])} / {_fmt(s['measured_precision'])}",
                     f"{_fmt(s['expected_recall'])} / {_fmt(s['recall'])}", *tops])
    return tabulate(body, head, tablefmt="github")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_ablation.py", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="finished design=crossfit audit run directories")
    parser.add_argument("--retable", action="store_true",
                        help="only rewrite ablation.md from the ablation_settings.csv already in --out")
    parser.add_argument("--out", type=Path, required=True, help="folder for ablation.csv, ablation.md")
    parser.add_argument("--statistic", default=AuditConfig().statistic, choices=STATISTICS)
    parser.add_argument("--scoring", nargs="*", default=[], metavar="KEY=VALUE",
                        help="read the statistics saved under these scoring.* settings (after an evaluate.py re-score)")
    args = parser.parse_args(argv)
    if args.retable:
        with (args.out / "ablation_settings.csv").open(newline="") as f:
            settings = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
        atomic_write_text(args.out / "ablation.md", markdown(settings, args.statistic))
        return
    if not args.runs:
        parser.error("name the run directories (or --retable)")
    scoring = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.scoring)}
    rows = [row for root in args.runs for row in run_rows(root, args.statistic, scoring or None)]
    settings = settings_rows(rows, args.statistic)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(args.out / "ablation.csv", rows, list(rows[0]))
    atomic_write_csv(args.out / "ablation_settings.csv", settings, list(settings[0]))
    text = markdown(settings, args.statistic)
    atomic_write_text(args.out / "ablation.md", text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
