"""Hardware settings: matmul precision and the device used for scoring and evaluation."""

from __future__ import annotations

from typing import Any

import torch

TRAINER_KEYS = ("accelerator", "devices", "num_nodes", "strategy", "precision", "deterministic")


def configure(hardware: dict[str, Any]) -> None:
    """Apply process-wide settings (e.g. TF32 via ``matmul_precision: high``)."""
    torch.set_float32_matmul_precision(hardware.get("matmul_precision", "highest"))


def trainer_kwargs(hardware: dict[str, Any]) -> dict[str, Any]:
    return {key: hardware[key] for key in TRAINER_KEYS if key in hardware}


def eval_device(accelerator: str = "auto") -> torch.device:
    """The device for scoring: CUDA when the run trains on a GPU (or ``auto`` finds one), else CPU."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")
