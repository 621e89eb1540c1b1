"""Process placement: which rank writes, where DDP children run, which GPU a sweep job gets.

Lightning's ``ddp`` strategy re-executes the Hydra script once per extra device (``LOCAL_RANK=1 ...
hydra.run.dir=<parent's run.dir>``); SLURM and torchrun start every rank themselves. In both cases
every rank runs ``run_experiment`` from the top, so everything that writes to the run directory
asks ``is_global_zero()`` first, and the other ranks wait at ``barrier()``.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from clipmem.errors import ConfigError

_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's global rank, known before any Trainer exists (0 without a distributed launch).

    Under the subprocess launcher on several nodes ``NODE_RANK``·devices + ``LOCAL_RANK``; SLURM's
    ``SLURM_PROCID`` where set; as Lightning's ``rank_zero_only.rank`` reads it.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    for name in _RANK_VARIABLES:
        if name in os.environ:
            if name == "LOCAL_RANK" and int(os.environ.get("NODE_RANK", "0")) > 0:
                return -1  # a non-zero node: not the global zero, whatever its local rank
            return int(os.environ[name])
    return 0


def is_global_zero() -> bool:
    return global_rank() == 0


def barrier() -> None:
    """Wait for all ranks when a process group exists (after training); a no-op otherwise."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def slurm_requeued() -> bool:
    """True in a SLURM job that was requeued (preemption or time limit): it resumes its run."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def pin_hydra_run_dir(run_dir: str) -> None:
    """Make ``hydra.run.dir`` the run's resolved directory before Lightning launches DDP children.

    Lightning passes ``hydra.run.dir=<HydraConfig.get().run.dir>`` to each child; resolving the
    ``${now:}``/``${short_uuid:}`` pattern there again could name another directory, so pin it.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = str(run_dir)


def hydra_job() -> dict[str, Any] | None:
    """``{"sweep_dir", "num", "overrides"}`` of the running Hydra multirun job, or None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    return {"sweep_dir": str(hc.sweep.dir), "num": int(hc.job.num), "overrides": list(hc.overrides.task)}


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_jobs(launcher: Any, cores: int) -> int:
    """How many jobs run at once on this machine under the Hydra ``launcher`` config (None outside a multirun):
    joblib's ``n_jobs`` (-1 = one per core, -2 = all but one, as joblib counts), 1 for any other launcher
    (Hydra's basic one runs jobs in turn; a SLURM job has its own allocation)."""
    if launcher is None or "joblib" not in str(launcher.get("_target_", "")).lower():
        return 1
    n_jobs = int(launcher.get("n_jobs") or 1)
    return max(1, min(cores, n_jobs if n_jobs > 0 else cores + 1 + n_jobs))


def launcher_config() -> Any:
    """The running multirun's ``hydra.launcher`` config, or None outside a multirun."""
    if hydra_job() is None:
        return None
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().launcher


def sweep_job_num() -> int | None:
    """The job number inside a Hydra multirun, else None."""
    job = hydra_job()
    return None if job is None else job["num"]


def gpu_for_job(job_num: int, num_gpus: int) -> int:
    """The GPU index job ``job_num`` of a local sweep trains on: jobs take the visible GPUs in turn."""
    if num_gpus < 1:
        raise ConfigError("hardware.gpu_per_job=true needs at least one visible CUDA GPU; found none")
    if job_num < 0:
        raise ValueError(f"job number must be ≥ 0, got {job_num}")
    return job_num % num_gpus


def check_launch(strategy: str, devices: object, mode: str) -> None:
    """Refuse DDP with Lightning's script launcher inside a Hydra multirun: it would re-run the sweep.

    The launcher re-executes ``sys.argv`` (with ``-m`` and the sweep lists) per device. Under SLURM
    (submitit: one task per device) or torchrun the ranks are started externally and this is fine.
    """
    external = any(v in os.environ for v in ("SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "LOCAL_RANK"))
    many = (isinstance(devices, int) and devices > 1) or (isinstance(devices, list | tuple) and len(devices) > 1)
    if mode == "MULTIRUN" and str(strategy).startswith("ddp") and many and not external:
        raise ConfigError(
            f"hardware.strategy={strategy} with hardware.devices={devices} inside a local multirun (-m) would "
            "re-launch the whole sweep per device; use hydra/launcher=slurm (one task per device), "
            "or one GPU per job: hardware=gpu hardware.gpu_per_job=true hydra/launcher=joblib"
        )
