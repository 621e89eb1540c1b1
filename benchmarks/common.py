"""What every benchmark measurement shares: the composed config, the data, timing windows, memory."""

from __future__ import annotations

import resource
import statistics
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"
WARMUP, STEPS, REPEATS = 5, 20, 5  # 100 timed steps per measurement, after 5 warm-up steps
TRAIN_PAIRS = 5  # Lightning/bare runs alternated in one process
TRAIN_OVERRIDES = [  # 7200 pairs for f: 112 steps of 64, so the 105 timed steps stay inside one epoch (no validation)
    "data.source.num_samples=7600", "data.splits={shared:7000,candidate:200,independent:200,extra:200}",
    "data.batch_size=64", "trainer.max_epochs=1",
]
SCORE_OVERRIDES = ["data.source.num_samples=1400", "data.splits={shared:800,candidate:200,independent:200,extra:200}",
                   "scoring.num_views=4"]
MODEL_SIZES = {  # name -> nano overrides (width/layers of both towers)
    "nano": {},
    "small": {"model.arch.vision_cfg.width": 256, "model.arch.vision_cfg.layers": 6,
              "model.arch.text_cfg.width": 128, "model.arch.text_cfg.layers": 6, "model.arch.embed_dim": 128},
}


def pin_threads() -> int:
    """Both training measurements use the same number of torch threads (``BENCH_THREADS``, default 2)."""
    import os

    import torch

    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    return threads


def peak_rss_mib() -> float:
    """This process's resident-memory high-water mark in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median(values: list[float]) -> float:
    return statistics.median(values)


def settings(overrides: list[str]):
    """The validated settings of ``python train.py <overrides>`` (no logger, a scratch run directory)."""
    from hydra import compose, initialize_config_dir

    import clipmem.config

    clipmem.config.register()
    from clipmem.config.settings import load_settings

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["logger=none", "run_dir=/tmp/clipmem-bench", *overrides])
    return load_settings(cfg)


def windows(stamps: list[float], batch: int) -> list[float]:
    """Samples/s over REPEATS windows of STEPS steps after WARMUP steps, from per-step start times."""
    needed = WARMUP + REPEATS * STEPS + 1
    if len(stamps) < needed:
        raise RuntimeError(f"the measurement ran {len(stamps)} steps, the timing windows need {needed}: give it more "
                           "training pairs (TRAIN_OVERRIDES) so that one epoch holds them")
    return [batch * STEPS / (stamps[WARMUP + (r + 1) * STEPS] - stamps[WARMUP + r * STEPS]) for r in range(REPEATS)]


def write_table(out: Path, stem: str, rows: list[dict], text: str) -> None:
    """``<stem>.csv`` (``rows``, the first row's keys as columns) and ``<stem>.md`` (``text``) into ``out``, and
    ``text`` printed."""
    from clipmem.io import atomic_write_csv, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out / f"{stem}.csv", rows, list(rows[0]))
    atomic_write_text(out / f"{stem}.md", text)
    sys.stdout.write(text)
