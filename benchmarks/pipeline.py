"""Whole runs of the pipeline, timed from their ``status.json``: what per-model statistics cost against
training, and how an audit's wall time grows with the number of models M."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def timed_run(overrides: list[str]) -> dict[str, Any]:
    """Run ``train.py`` with ``overrides`` in a scratch directory; return its status.json (wall_s, seconds)."""
    with tempfile.TemporaryDirectory(prefix="clipmem-bench-") as scratch:
        cmd = [sys.executable, str(ROOT / "train.py"), *overrides, "logger=none", f"run_dir={scratch}/run",
               "trainer.enable_progress_bar=false"]
        env = {**os.environ, "WANDB_MODE": "offline"}
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(overrides)} failed:\n{done.stderr[-3000:]}")
        status = json.loads((Path(scratch) / "run" / "status.json").read_text())
    print(f"[bench] train.py {' '.join(overrides)}: {status['wall_s']} s", file=sys.stderr, flush=True)
    return status


def cost_section() -> dict[str, Any]:
    """The default experiment without in-training callbacks: each model's statistics and utility seconds
    against its training seconds."""
    status = timed_run(["callbacks=none"])
    rows = {name: {**s, "statistics_fraction": s["statistics"] / s["train"]} for name, s in status["seconds"].items()}
    return {"wall_s": status["wall_s"], "models": rows}


def audit_section(models: tuple[int, ...] = (2, 4, 8)) -> list[dict[str, Any]]:
    """``experiment=audit_tuxpaint`` (needs data/tuxpaint) for each M: wall time and per-model seconds."""
    rows = []
    for m in models:
        status = timed_run(["experiment=audit_tuxpaint", f"design.models={m}"])
        seconds = status["seconds"].values()
        rows.append({"models": m, "wall_s": status["wall_s"],
                     "train_s_mean": sum(s["train"] for s in seconds) / m,
                     "statistics_s_mean": sum(s["statistics"] for s in seconds) / m})
    return rows
