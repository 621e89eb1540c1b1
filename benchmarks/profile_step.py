"""Where a Lightning training step spends its time: cProfile over the timed steps of ``train_lightning``."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path
from typing import Any

import children

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
    """Profile one ``train_lightning`` measurement; the text report goes to ``PROFILE_OUT`` (env) if set."""
    import os

    profiler = cProfile.Profile()
    profiler.enable()
    result = children.train_lightning(extra)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).sort_stats("tottime")
    stats.print_stats(30)
    if os.environ.get("PROFILE_OUT"):
        Path(os.environ["PROFILE_OUT"]).write_text(buffer.getvalue())
    return {"samples_per_s_profiled": result["samples_per_s"], "groups_s": grouped(stats)}
