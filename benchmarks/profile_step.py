"""Where a Lightning training step spends its time: cProfile over the timed steps of a Lightning measurement."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path
from typing import Any

import children
from common import WARMUP, windows

GROUPS = {  # substring of a profiled function's file -> where the time goes
    "torch/nn/": "model forward (torch.nn)",
    "torch/autograd": "backward (autograd)",
    "torch/optim": "optimizer step",
    "clipmem/data": "clipmem data (batches, crops)",
    "torch/utils/data": "DataLoader",
    "lightning/": "Lightning (loops, hooks, logging)",
    "tqdm": "progress bar",
}


def grouped(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of own time (tottime) per group of ``GROUPS`` and in the rest."""
    out: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
        label = next((name for key, name in GROUPS.items() if key in filename), "other (incl. C++ kernels)")
        out[label] = out.get(label, 0.0) + tottime
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def profile(extra: list[str]) -> dict[str, Any]:
    """Profile the timed steps of one Lightning measurement (set-up and warm-up left out); the text report goes to
    ``PROFILE_OUT`` (env) if set."""
    import os

    config, data = children._training_setup(extra)
    profiler = cProfile.Profile()
    stamps = children.lightning_stamps(config, data, profiler)
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).sort_stats("tottime")
    stats.print_stats(30)
    if os.environ.get("PROFILE_OUT"):
        Path(os.environ["PROFILE_OUT"]).write_text(buffer.getvalue())
    return {"samples_per_s_profiled": windows(stamps, data.batch_size), "groups_s": grouped(stats),
            "steps_s": stamps[-1] - stamps[WARMUP]}
