"""Speed and memory benchmark: ``python benchmarks/bench.py [--out DIR] [--parts train,score,gpu]``.

Measures, each in a fresh subprocess (so the RSS high-water mark belongs to one measurement):
  * training throughput (samples/s) of CLIPModule under a real ``lightning.Trainer`` (the pipeline's
    datamodule, augmentation, logging and progress bar) vs a bare PyTorch loop over the same open_clip
    model, loss, optimizer, schedule, augmentation and in-memory data (``children.py``): each alone for its
    memory, and alternated five times in one process for their ratio;
  * a cProfile of the Lightning measurement's timed steps, grouped by where the time goes (``profile.txt``);
  * CLIPMem statistics of f and g vs the pure forward-encode time of the same images and captions, and
    how scoring time and memory grow with |S_C|, K and model size;
  * whole runs (``pipeline.py``): per-model statistics seconds against training seconds in the default
    experiment, and an audit of 1,000 pairs: wall time and AUC at the defaults and with fewer models or epochs;
  * start-up: ``python train.py --help`` in fresh processes (the cost of importing the package);
  * on a CUDA GPU: ViT-B-32 samples/s at batch 256 in bf16 and the fraction of the card's peak bf16
    matrix throughput (``gpu.py``);
  * ``experiment=coco_vitb32``: its FLOPs per run and the time per run, from the GPU rate where measured, else
    at assumed fractions of an H100's peak (``coco.py``).
Warm-up steps are excluded; each timing is the median of several repeats. Writes ``bench.md`` and
``bench.json`` under ``--out`` (default ``outputs/bench/<date>_<time>``) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import children
import coco
import gpu
import pipeline
import profile_step
from common import MODEL_SIZES, SCORE_OVERRIDES, median
from table import format_table

CHILDREN = {"train_lightning": children.train_lightning, "train_bare": children.train_bare,
            "train_pairs": children.train_pairs, "score": children.score, "encode": children.encode, "gpu": gpu.gpu,
            "profile": profile_step.profile, "coco_flops": coco.coco_flops}
PARTS = ("train", "profile", "score", "cost", "audit", "startup", "gpu", "coco")


def measure(kind: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, *(overrides or [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {kind} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[bench] {kind} {' '.join(overrides or [])}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def train_section() -> dict[str, Any]:
    """Throughput and memory of each loop alone (a fresh process each), and their ratio from Lightning/bare
    runs alternated in one process (``children.train_pairs``)."""
    lightning, bare, pairs = measure("train_lightning"), measure("train_bare"), measure("train_pairs")
    # the pipeline turns Lightning's bar off when its output is not a terminal (log lines instead): measured too
    quiet = measure("train_pairs", ["trainer.enable_progress_bar=false"])
    return {"lightning": lightning, "bare": bare, "pair_ratios": pairs["ratios"], "pairs": pairs,
            "ratio": median(pairs["ratios"]), "no_bar_pair_ratios": quiet["ratios"], "no_bar_pairs": quiet,
            "no_bar_ratio": median(quiet["ratios"])}


def score_sections() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    score, encode = measure("score", SCORE_OVERRIDES), measure("encode", SCORE_OVERRIDES)
    section = {"score": score, "encode": encode, "ratio": median(score["seconds"]) / median(encode["seconds"])}
    points = [
        *((f"|S_C|={n}", [f"data.splits.candidate={n}", f"data.splits.independent={n}",
                          f"data.source.num_samples={1000 + 2 * n}"]) for n in (100, 400)),
        *((f"K={k}", [f"scoring.num_views={k}"]) for k in (2, 8)),
        *((f"model={name}", [f"{k}={v}" for k, v in sizes.items()]) for name, sizes in MODEL_SIZES.items()
          if name != "nano"),
    ]
    growth = [{"point": label, **measure("score", [*SCORE_OVERRIDES, *extra])} for label, extra in points]
    return section, [{"point": "base (|S_C|=200, K=4, nano)", **score}, *growth]


def machine() -> str:
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return (f"{platform.machine()}, {cores} CPU cores, {platform.system()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")


def run_benchmark(out_dir: Path, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Every section of ``parts``; bench.json, bench.md (and profile.txt) are written into ``out_dir``."""
    from clipmem.io import atomic_write_json, atomic_write_text

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "date": dt.datetime.now().isoformat(timespec="seconds"),
                               "load_average_start": list(os.getloadavg())}
    if "train" in parts:
        results["train"] = train_section()
    if "profile" in parts:
        os.environ["PROFILE_OUT"] = str(out_dir / "profile.txt")
        results["profile"] = measure("profile")
    if "score" in parts:
        results["score"], results["growth"] = score_sections()
    if "cost" in parts:
        results["cost"] = pipeline.cost_section()
    if "audit" in parts:
        results["audit"] = pipeline.audit_section()
    if "startup" in parts:
        results["startup"] = pipeline.startup_section()
    results["gpu"] = measure("gpu") if "gpu" in parts else {"gpu": None}
    if "coco" in parts:  # after the GPU part: its measured rate gives the time per run where it ran
        results["coco"] = coco.coco_section(measure("coco_flops"), results["gpu"])
    results["wall_seconds"] = time.perf_counter() - started
    results["load_average_end"] = list(os.getloadavg())
    atomic_write_json(out_dir / "bench.json", results)
    atomic_write_text(out_dir / "bench.md", format_table(results))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/bench/<date>_<time>)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args, overrides = parser.parse_known_args(argv)
    if args.child:
        import clipmem  # noqa: F401  (torchvision shim before lightning/open_clip)

        print(json.dumps(CHILDREN[args.child](overrides)), flush=True)
        return
    out = args.out or Path("outputs/bench") / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    results = run_benchmark(out, tuple(args.parts.split(",")))
    print(format_table(results), flush=True)
    print(f"written to {out}/bench.md and bench.json", flush=True)


if __name__ == "__main__":
    main()
