"""The audit's ablation from finished in/out runs: every suspicion statistic's mis-caption AUC for the first
2, 4, 8, ... models of each run, and for every scoring config whose statistics the run holds (K).

    python benchmarks/audit_ablation.py --out outputs/examples/audit <run dir> [<run dir> ...]

Reads each run's config, splits.json and ``models/<name>/sample_stats-*.safetensors`` (nothing is trained
or re-encoded); writes ``ablation.csv`` and ``ablation.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors import safe_open

import clipmem.config  # noqa: F401  (torchvision shim, resolvers, schemas)
from clipmem.audit.config import AuditConfig
from clipmem.audit.statistics import flag, suspicion_statistics
from clipmem.config.legacy import saved_run_config
from clipmem.config.settings import load_settings
from clipmem.data.splits import SplitManifest
from clipmem.evaluation.auc import auc_interval, flag_auc
from clipmem.io import atomic_write_csv
from clipmem.rundir import RunDir
from clipmem.scoring.statistics import load_statistics

STATISTICS = ("combined", "low_consistency", "low_alignment", "memorization", "clipscore")
THRESHOLDS = (1.0, 1.5, 2.0, 2.5, 3.0)  # robust standard deviations above the median (audit.threshold)
DEFAULT = AuditConfig().statistic  # its AUC carries an interval; its flags are scored at every threshold


def scoring_of(path: Path) -> dict:
    """The scoring config stored in a statistics file's header."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["clipmem"])["scoring"]


def run_rows(root: Path) -> list[dict]:
    """One row per (scoring config, number of models) of one run."""
    run = RunDir(root)
    cfg = saved_run_config(run.config, run.root)
    settings = load_settings(cfg)
    manifest = SplitManifest.read(run.splits)
    plan = settings.design.plan(manifest, settings.seed)
    flags = torch.tensor([i in set(manifest.miscaptioned) for i in plan.scored_ids])
    epochs = cfg.trainer.max_epochs
    rows = []
    for key_path in sorted(run.model(plan.specs[0].name).glob("sample_stats-*.safetensors")):
        key = key_path.stem.split("-", 1)[1]
        stats = [load_statistics(run.statistics(spec.name, key)) for spec in plan.specs]
        align, contrast = torch.stack([s.align for s in stats]), torch.stack([s.contrast for s in stats])
        k = scoring_of(key_path)["num_views"]
        for m in (2, 4, 8, 16, 32):
            if m > len(plan.specs):
                break
            values = suspicion_statistics(align[:m], contrast[:m], plan.membership()[:m])
            row = {"run": root.name, "data": cfg.name, "epochs": epochs, "K": k, "M": m}
            for name in STATISTICS:
                row[f"auc_{name}"] = flag_auc(values[name], flags)
            _, low, high = auc_interval(row[f"auc_{DEFAULT}"], int(flags.sum()), int((~flags).sum()))
            row[f"auc_{DEFAULT}_low"], row[f"auc_{DEFAULT}_high"] = low, high
            row.update(flag_quality(values[DEFAULT], flags))
            rows.append(row)
    return rows


def flag_quality(suspicion: torch.Tensor, flags: torch.Tensor) -> dict[str, float]:
    """Precision and recall of ``flagged`` for the mis-captions at each threshold of ``THRESHOLDS``."""
    out = {}
    for threshold in THRESHOLDS:
        flagged = flag(suspicion, threshold)
        hits = int((flagged & flags).sum())
        out[f"precision_at_{threshold}"] = hits / max(int(flagged.sum()), 1)
        out[f"recall_at_{threshold}"] = hits / max(int(flags.sum()), 1)
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(rows: list[dict]) -> str:
    """Two tables: every statistic's AUC (the default's with its 95 % interval), then the default's flag
    precision and recall at each threshold for the largest M of each run."""
    head = ["data", "epochs", "K", "M", *[f"auc_{s}" for s in STATISTICS]]
    default_column = head.index(f"auc_{DEFAULT}")
    aucs = []
    for row in rows:
        cells = [str(row[c]) if not isinstance(row[c], float) else f"{row[c]:.3f}" for c in head]
        cells[default_column] += f" [{row[f'auc_{DEFAULT}_low']:.3f}, {row[f'auc_{DEFAULT}_high']:.3f}]"
        aucs.append(cells)
    largest = {}
    for row in rows:
        largest[(row["run"], row["K"])] = row  # rows come in increasing M
    flags = [[row["data"], str(row["epochs"]), str(row["M"]),
              *(f"{row[f'precision_at_{t}']:.2f} / {row[f'recall_at_{t}']:.2f}" for t in THRESHOLDS)]
             for row in largest.values()]
    lines = [*_table(head, aucs), "",
             f"Precision / recall of `flagged` ({DEFAULT}) for the mis-captions, by `audit.threshold`:", "",
             *_table(["data", "epochs", "M", *(str(t) for t in THRESHOLDS)], flags)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/audit_ablation.py", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished design=inout run directories")
    parser.add_argument("--out", type=Path, required=True, help="folder for ablation.csv and ablation.md")
    args = parser.parse_args(argv)
    rows = [row for root in args.runs for row in run_rows(root)]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(args.out / "ablation.csv", rows, list(rows[0]))
    (args.out / "ablation.md").write_text(markdown(rows))
    sys.stdout.write(markdown(rows))


if __name__ == "__main__":
    main()
