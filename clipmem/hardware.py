"""Hardware settings: matmul precision, Trainer device arguments, and the device used for scoring."""

from __future__ import annotations

import os
from typing import Any

import torch

from clipmem.distributed import gpu_for_job

TRAINER_KEYS = ("accelerator", "devices", "num_nodes", "strategy", "precision", "deterministic")


def configure(hardware: dict[str, Any]) -> None:
    """Apply process-wide settings (e.g. TF32 via ``matmul_precision: high``)."""
    torch.set_float32_matmul_precision(hardware.get("matmul_precision", "highest"))


def trainer_kwargs(hardware: dict[str, Any], job_num: int | None = None, num_gpus: int | None = None) -> dict[str, Any]:
    """``lightning.Trainer`` arguments from the ``hardware`` config.

    ``gpu_per_job: true`` inside a sweep (``job_num`` given) puts job n on GPU ``n % num_gpus``
    (``devices=[i]``), so a local multi-GPU sweep runs one job per card. Under SLURM, Lightning's
    ``SLURMEnvironment`` is built with ``auto_requeue`` from ``slurm_auto_requeue`` (default true):
    on the pre-timeout/preemption signal it checkpoints and requeues the job, which then resumes.
    """
    kwargs = {key: hardware[key] for key in TRAINER_KEYS if key in hardware}
    if hardware.get("gpu_per_job") and job_num is not None:
        visible = torch.cuda.device_count() if num_gpus is None else num_gpus
        kwargs["devices"] = [gpu_for_job(job_num, visible)]
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect():
        kwargs["plugins"] = [SLURMEnvironment(auto_requeue=bool(hardware.get("slurm_auto_requeue", True)))]
    return kwargs


def eval_device(accelerator: str = "auto", devices: Any = None) -> torch.device:
    """The device for scoring: CUDA when the run trains on a GPU (or ``auto`` finds one), else CPU.

    ``devices`` as a list (e.g. ``[2]`` from ``gpu_per_job``) picks its first GPU; otherwise this
    process's ``LOCAL_RANK`` GPU (0 outside DDP).
    """
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        if isinstance(devices, list | tuple) and devices:
            return torch.device("cuda", int(devices[0]))
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
