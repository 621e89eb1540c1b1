"""Whole runs of the pipeline, timed from their ``status.json``: what per-model statistics cost against
training, and what an audit of 1,000 pairs costs and finds at its defaults and with fewer models or epochs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def timed_run(overrides: list[str], with_metrics: bool = False) -> Any:
    """Run ``train.py`` with ``overrides`` in a scratch directory; return its status.json (wall_s, seconds), and its
    metrics.json with ``with_metrics``."""
    with tempfile.TemporaryDirectory(prefix="clipmem-bench-") as scratch:
        cmd = [sys.executable, str(ROOT / "train.py"), *overrides, "logger=none", f"run_dir={scratch}/run",
               "trainer.enable_progress_bar=false"]
        env = {**os.environ, "WANDB_MODE": "offline"}
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(overrides)} failed:\n{done.stderr[-3000:]}")
        status = json.loads((Path(scratch) / "run" / "status.json").read_text())
        metrics = json.loads((Path(scratch) / "run" / "metrics.json").read_text())
    print(f"[bench] train.py {' '.join(overrides)}: {status['wall_s']} s", file=sys.stderr, flush=True)
    return (status, metrics) if with_metrics else status


def cost_section() -> dict[str, Any]:
    """The default experiment without in-training callbacks: each model's statistics and utility seconds
    against its training seconds."""
    status = timed_run(["callbacks=none"])
    rows = {name: {**s, "statistics_fraction": s["statistics"] / s["train"]} for name, s in status["seconds"].items()}
    return {"wall_s": status["wall_s"], "models": rows}


AUDIT_ROWS = 1000
AUDIT_SETTINGS = ((), ("hardware.models_at_once=1",), ("design.repeats=1",),
                  ("model=nano_minilm", "audit.statistic=consensus"))  # last: the defaults before the frozen towers


def audit_csv(folder: Path, rows: int = AUDIT_ROWS) -> Path:
    """The first ``rows`` pairs of the prepared emoji set (data/emoji, ``python -m clipmem.prepare emoji``) as a CSV
    with absolute image paths: a user's own CSV of 1,000 pairs."""
    source = ROOT / "data" / "emoji" / "pairs.csv"
    if not source.is_file():
        raise RuntimeError(f"the audit benchmark needs {source}: run python -m clipmem.prepare emoji --out data/emoji")
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        picked = [row for _, row in zip(range(rows), reader, strict=False)]
    out = folder / "pairs.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["filepath", "title"])
        writer.writeheader()
        writer.writerows({"filepath": str(source.parent / r["filepath"]), "title": r["title"]} for r in picked)
    return out


def audit_section(settings: tuple[tuple[str, ...], ...] = AUDIT_SETTINGS) -> list[dict[str, Any]]:
    """``experiment=audit`` on 1,000 pairs (10 % of them given another pair's caption): wall time, the models'
    training and statistics seconds (summed over models, which train side by side at the defaults), and the AUC the
    audit reaches, at the defaults, with the models trained in turn, with fewer models, and with the image tower
    trained from scratch (``model=nano_minilm`` read by ``consensus``, the defaults before)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="clipmem-audit-") as scratch:
        path = audit_csv(Path(scratch))
        for extra in settings:
            status, metrics = timed_run(["experiment=audit", f"data.source.path={path}",
                                         "data.miscaption.fraction=0.1", *extra], with_metrics=True)
            seconds = status["seconds"].values()
            rows.append({"setting": " ".join(extra) or "defaults", "models": metrics["num_models"],
                         "wall_s": status["wall_s"], "train_s": sum(s.get("train", 0) for s in seconds),
                         "statistics_s": sum(s["statistics"] for s in seconds),
                         "auc": metrics.get("audit_auc"), "auc_low": metrics.get("audit_auc_low"),
                         "auc_high": metrics.get("audit_auc_high")})
    return rows


STARTUP_TARGET_S = 5.0  # half of the ~10 s train.py --help took before the light imports (issue 22)


def startup_section(repeats: int = 5) -> dict[str, Any]:
    """Seconds from starting ``python train.py --help`` to its exit, each in a fresh process: the cost of importing
    the package and composing nothing."""
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"], cwd=ROOT, capture_output=True, check=True)
        seconds.append(time.perf_counter() - began)
    return {"seconds": seconds, "target_s": STARTUP_TARGET_S}
