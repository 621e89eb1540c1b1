"""Learning-rate schedule: linear warmup then cosine decay, stepped every optimizer step."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based).

    Rises linearly from 1/warmup to 1 over ``warmup_steps``, then follows a half cosine from 1 down
    to ``min_ratio`` at ``total_steps``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def adamw_with_schedule(factory: Callable[..., torch.optim.Optimizer], groups: list[dict[str, Any]], total_steps: int,
                        warmup: float, min_ratio: float, fused: bool = False) -> dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer: ``factory(groups)`` (with ``fused=True`` when asked) stepped by
    ``warmup_cosine`` every optimizer step; ``warmup`` below 1 is a fraction of ``total_steps``."""
    optimizer = factory(groups, **({"fused": True} if fused else {}))
    warmup_steps = int(round(warmup * total_steps)) if warmup < 1 else int(warmup)
    schedule = functools.partial(warmup_cosine, total_steps=total_steps, warmup_steps=warmup_steps,
                                 min_ratio=min_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
