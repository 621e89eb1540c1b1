"""Hardware settings (``conf/hardware/*.yaml``): Trainer device arguments, matmul precision, and the
device a run scores on."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from clipmem.distributed import available_cores, gpu_for_job, launcher_config, parallel_jobs
from clipmem.errors import ConfigError

log = logging.getLogger(__name__)

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
MATMUL_PRECISIONS = ("highest", "high", "medium")


@dataclass(frozen=True)
class HardwareSettings:
    """``hardware``: where and how every model trains (values in conf/hardware/_base.yaml and its options).

    accelerator, devices, num_nodes, strategy, precision, deterministic: ``lightning.Trainer`` arguments.
    matmul_precision: ``torch.set_float32_matmul_precision`` (``high`` allows TF32 on GPUs).
    gpu_per_job: in a local sweep, job n trains on GPU ``n % visible GPUs``.
    slurm_auto_requeue: under SLURM, checkpoint and requeue on the pre-timeout signal.
    threads: torch's intra-op threads per process: ``auto`` (``threads_for(cores, processes)``: the available
        cores shared by the jobs a parallel launcher runs at once and, on CPU, the devices of a DDP run; a lower
        ``OMP_NUM_THREADS`` wins) or a number ≥ 1.
    models_at_once: models of a plan trained at once in forked processes of one thread each (CPU, one device,
        ``callbacks=none``; ``clipmem.plan.side_by_side``): 1 (in turn), a number, or ``auto`` (the cores this
        process may use, shared with parallel sweep jobs; 1 where side by side does not apply).
    """

    accelerator: str
    devices: Any
    num_nodes: int
    strategy: str
    precision: Any
    matmul_precision: str
    deterministic: bool
    gpu_per_job: bool
    slurm_auto_requeue: bool
    threads: Any = "auto"
    models_at_once: Any = 1

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ConfigError(f"hardware.accelerator must be one of {list(ACCELERATORS)}, got {self.accelerator!r}")
        if self.matmul_precision not in MATMUL_PRECISIONS:
            raise ConfigError(f"hardware.matmul_precision must be one of {list(MATMUL_PRECISIONS)}, "
                              f"got {self.matmul_precision!r}")
        if int(self.num_nodes) < 1:
            raise ConfigError(f"hardware.num_nodes must be ≥ 1, got {self.num_nodes}")
        if self.threads != "auto" and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                       or self.threads < 1):
            raise ConfigError(f"hardware.threads must be auto or a whole number ≥ 1, got {self.threads!r}")
        at_once = self.models_at_once
        if at_once != "auto" and (isinstance(at_once, bool) or not isinstance(at_once, int) or at_once < 1):
            raise ConfigError(f"hardware.models_at_once must be auto or a whole number ≥ 1, got {at_once!r}")

    def side_by_side_blocker(self, callbacks: bool) -> str | None:
        """Why models cannot train side by side here (None: they can)."""
        if self.accelerator != "cpu" or self.devices not in (1, "1") or int(self.num_nodes) != 1:
            return (f"it trains in CPU processes of one device (hardware.accelerator={self.accelerator}, "
                    f"devices={self.devices}, num_nodes={self.num_nodes})")
        if callbacks:
            return ("callbacks evaluate during training, comparing a model with the one before it and logging to "
                    "this run's loggers: set callbacks=none")
        if self.slurm_auto_requeue and "SLURM_JOB_ID" in os.environ:
            return ("in a SLURM job the requeue signal must reach the process that trains "
                    "(hardware.slurm_auto_requeue=true)")
        return None

    def models_side_by_side(self, models: int, callbacks: bool, launcher: Any = None) -> int:
        """How many of a plan's ``models`` train at once (``models_at_once``); ``callbacks``: whether the run
        evaluates during training.

        Raises:
            ConfigError: a number above 1 where side by side does not apply (``side_by_side_blocker``).
        """
        if self.models_at_once == 1 or models <= 1:
            return 1
        blocker = self.side_by_side_blocker(callbacks)
        if blocker is not None:
            if self.models_at_once == "auto":
                log.info("hardware.models_at_once=auto: models train in turn, as %s", blocker)
                return 1
            raise ConfigError(f"hardware.models_at_once={self.models_at_once} trains models side by side, but {blocker}"
                              "; or set hardware.models_at_once=1")
        wanted = (available_cores() // self.processes_per_machine(launcher) if self.models_at_once == "auto"
                  else int(self.models_at_once))
        return max(1, min(wanted, models))

    def processes_per_machine(self, launcher: Any = None) -> int:
        """Processes that share this machine's cores: parallel sweep jobs × (CPU DDP devices)."""
        cpu_ddp = self.accelerator == "cpu" and isinstance(self.devices, int) and self.devices > 1
        return parallel_jobs(launcher, available_cores()) * (self.devices if cpu_ddp else 1)

    def batch_processes(self) -> int:
        """Data-parallel processes that each take a batch per training step: the devices of one node (a number,
        a list or "0,1", or ``auto``/-1: every visible GPU, one CPU process) times ``num_nodes``."""
        devices = self.devices
        if isinstance(devices, str) and "," in devices:  # Lightning's "0,1": those GPUs
            devices = [d for d in devices.split(",") if d.strip()]
        if isinstance(devices, list | tuple):
            count = len(devices)
        elif str(devices).lstrip("-").isdigit() and int(devices) > 0:
            count = int(devices)
        elif self.accelerator in ("gpu", "cuda") or (self.accelerator == "auto" and torch.cuda.is_available()):
            count = max(1, torch.cuda.device_count())  # auto / -1: all visible GPUs
        else:
            count = 1
        return count * int(self.num_nodes)

    def thread_count(self, launcher: Any = None) -> tuple[int, str]:
        """(threads, why) for this process (see ``threads``)."""
        if self.threads != "auto":
            return int(self.threads), "hardware.threads"
        cores, processes = available_cores(), self.processes_per_machine(launcher)
        threads = threads_for(cores, processes)
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and 0 < int(env) < threads:  # a lower limit from the environment wins
            return int(env), f"OMP_NUM_THREADS={env}"
        return threads, f"{cores} cores / {processes} process(es) at once"

    def configure(self) -> None:
        """Apply process-wide settings: TF32 via ``matmul_precision: high``, and torch's threads."""
        torch.set_float32_matmul_precision(self.matmul_precision)
        threads, why = self.thread_count(launcher_config())
        torch.set_num_threads(threads)
        log.info("threads: %d per process (%s)", threads, why)

    def trainer_kwargs(self, job_num: int | None = None, num_gpus: int | None = None) -> dict[str, Any]:
        """``lightning.Trainer`` arguments.

        ``gpu_per_job`` inside a sweep (``job_num`` given) puts job n on GPU ``n % num_gpus``
        (``devices=[i]``), so a local multi-GPU sweep runs one job per card. Under SLURM, Lightning's
        ``SLURMEnvironment`` is built with ``auto_requeue`` from ``slurm_auto_requeue``.
        """
        kwargs = {"accelerator": self.accelerator, "devices": self.devices, "num_nodes": int(self.num_nodes),
                  "strategy": self.strategy, "precision": self.precision, "deterministic": self.deterministic}
        if self.gpu_per_job and job_num is not None:
            visible = torch.cuda.device_count() if num_gpus is None else num_gpus
            kwargs["devices"] = [gpu_for_job(job_num, visible)]
        from lightning.fabric.plugins.environments import SLURMEnvironment

        if SLURMEnvironment.detect():
            kwargs["plugins"] = [SLURMEnvironment(auto_requeue=bool(self.slurm_auto_requeue))]
        return kwargs

    def eval_device(self, job_num: int | None = None) -> torch.device:
        """Where rank 0 scores: the GPU this job trained on (``gpu_per_job`` sweeps included), or the CPU."""
        devices = self.trainer_kwargs(job_num).get("devices")
        return eval_device(self.accelerator, devices)


def threads_for(cores: int, processes: int) -> int:
    """Threads per process when ``processes`` share ``cores``: ``max(1, cores // processes)`` (no oversubscription)."""
    return max(1, int(cores) // max(1, int(processes)))


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
