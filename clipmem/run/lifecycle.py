"""The run's bookkeeping in one place: status.json, rank-zero gating, the loggers' start and shutdown.

``RunLifecycle`` is a context manager around one experiment. Entering it refuses to reuse a run directory
silently, records ``running`` and saves the config; leaving it records ``failed`` (or ``interrupted`` on
Ctrl-C) with the error when the body raised, and closes the loggers (a W&B run is marked failed too).
``complete`` records success with the config's fingerprint. Only global rank 0 writes; under DDP the
other ranks run the same steps and wait for rank 0 at ``finish_other_rank``. Rank 0 holds the directory's
``run.lock`` from the start (before it reads what the directory holds) to the end: a second process refuses
to write into it (clipmem/run/runlock.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from clipmem import distributed, interrupts
from clipmem.config.settings import RunOptions
from clipmem.errors import ConfigError
from clipmem.io import atomic_write_text, write_guard
from clipmem.reporting import tracking
from clipmem.run.runlock import RunLock
from clipmem.rundir import RunDir, failure_details

log = logging.getLogger(__name__)


def completed_metrics(run: RunDir, fingerprint: str) -> dict[str, Any] | None:
    """The metrics of ``run`` if it already completed with the config whose fingerprint is given, else None."""
    status = run.read_status()
    if status.get("state") != "complete" or not run.metrics.is_file():
        return None
    if status.get("config_sha256") != fingerprint:
        log.warning("%s holds a complete run of a different config; it is not replaced", run.root)
        return None
    return json.loads(run.metrics.read_text())


def prepare_run_dir(run: RunDir, resume: bool) -> None:
    """A single run: refuse to reuse a run directory silently; on resume, a run that stopped before its splits were
    drawn (nothing trained, nothing to continue) starts again there, its files kept under ``attempts/``."""
    if resume:
        if run.status.is_file() and not run.splits.is_file():
            moved = run.archive_attempt(keep_config=False)
            print(f"clipmem: resume=true: {run.root} stopped before its splits were drawn, so nothing is continued: "
                  f"starting it again (the earlier attempt is in {moved})", flush=True)
        return  # resume=true on a directory that holds no run yet (e.g. a sweep job not reached) starts afresh
    if run.status.is_file():
        state = json.loads(run.status.read_text()).get("state")
        again = "" if run.splits.is_file() else " (it stopped before its splits were drawn: it starts again there)"
        raise ConfigError(
            f"run_dir={run.root} already holds a run (status {state!r}); pass resume=true to continue it{again}, "
            "or leave run_dir unset for a new directory"
        )


def sweep_job_attempt(run: RunDir, fingerprint: str) -> str:
    """What a re-run sweep job does with its directory: ``fresh`` (nothing there), ``resume`` (a killed or
    interrupted run: finished models kept, the rest continues from its checkpoints) or ``restart`` (a failed
    run: its files move to ``attempts/``, training starts over). A run of another config is refused."""
    status = run.read_status()
    state = status.get("state")
    if state is None:
        return "fresh"
    if status.get("config_sha256", fingerprint) != fingerprint:
        raise ConfigError(f"{run.root} holds a {state} run of another config; re-run the sweep with its original "
                          "overrides, or give it a new hydra.sweep.dir")
    if state in ("running", "interrupted"):
        return "resume" if run.splits.is_file() else "restart"
    if state == "failed":
        return "restart"
    raise ConfigError(f"{run.root} already holds a {state} run of this config (skip_completed=false?)")


class RunLifecycle:
    """One experiment's run directory from ``running`` to ``complete`` / ``failed`` / ``interrupted``."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.run = RunDir(options.run_dir)
        self.is_zero = distributed.is_global_zero()
        self.loggers: list = []
        self.log_file: logging.Handler | None = None
        self.started = time.monotonic()
        self.lock = RunLock(self.run.root) if self.is_zero else None
        existed = self.run.root.is_dir()
        self.guard = contextlib.ExitStack()
        if self.lock is not None:  # first: what the directory holds is only read once no other process writes it
            self.lock.acquire()
            self.guard.enter_context(write_guard(self.lock.guard))  # and no file is published once it is lost
        try:
            self.resume = self._accept_directory()
        except BaseException:
            self._release_lock()
            if not existed:
                with contextlib.suppress(OSError):
                    self.run.root.rmdir()
            raise

    def _accept_directory(self) -> bool:
        """Refuse a directory that must not be reused, or recover a sweep job's; returns whether the run resumes."""
        job = distributed.hydra_job()
        asked = self.options.resume or distributed.slurm_requeued()
        if job is not None and not asked and self.is_zero:  # a (re-run) sweep finishes every unfinished job
            asked = self._recover_sweep_job(job["num"])
        elif self.is_zero:
            prepare_run_dir(self.run, asked)  # before entering: a refused directory keeps its own status
        return asked and self.run.splits.is_file()  # nothing to continue from: start afresh

    def _release_lock(self) -> None:
        self.guard.close()
        if self.lock is not None:
            self.lock.release()

    def _recover_sweep_job(self, num: int) -> bool:
        """Say in one line what this sweep job does with its directory; returns whether it resumes."""
        attempt = sweep_job_attempt(self.run, self.options.fingerprint)
        if attempt == "restart":
            moved = self.run.archive_attempt()
            print(f"clipmem: job {num}: restarting its failed run; the earlier attempt is in {moved}", flush=True)
        elif attempt == "resume":
            print(f"clipmem: job {num}: resuming its unfinished run from its checkpoints ({self.run.root})", flush=True)
        else:
            print(f"clipmem: job {num}: starting ({self.run.root})", flush=True)
        return attempt == "resume"

    def __enter__(self) -> RunLifecycle:
        self.interrupts = interrupts.catch_interrupts()
        self.interrupts.__enter__()
        try:
            if self.is_zero:  # only now, once the directory is accepted, is anything written into it
                self.run.root.mkdir(parents=True, exist_ok=True)
                self.log_file = open_run_log(self.run.log)
                self.run.write_status("running", resumed=self.resume, config_sha256=self.options.fingerprint)
                write_config_files(self.run, self.options.config, self.resume)
            else:  # a DDP child: its own log beside rank 0's, named as Hydra named it before
                self.log_file = open_run_log(self.run.root / f"{rank_log_name()}.log")
            distributed.pin_hydra_run_dir(str(self.run.root.resolve()))
        except BaseException:
            close_run_log(self.log_file)
            self._release_lock()
            self.interrupts.__exit__(None, None, None)
            raise
        return self

    def start_loggers(self, loggers: list) -> list:
        """Adopt the run's loggers (started before the data, so a job that fails on its data shows up)."""
        self.loggers = list(loggers)
        config = OmegaConf.to_container(self.options.config, resolve=True)
        for logger in self.loggers:
            logger.log_hyperparams(config)
        if self.is_zero:
            tracking.record_run(self.loggers, self.run.wandb_record)  # what evaluate.py's W&B run links to
        return self.loggers

    def complete(self, metrics: dict[str, Any], seconds: dict[str, dict[str, float]] | None = None
                 ) -> dict[str, Any]:
        """Record success (rank 0) once every result file is written, with the wall time and each model's
        ``seconds`` (training, statistics, utility: bookkeeping, not results); returns ``metrics``."""
        interrupts.check()  # never record success after a Ctrl-C, even one a finaliser swallowed
        if self.is_zero:  # the status write, like every atomic write, fails once the run's lock was taken
            self.run.write_status("complete", config_sha256=self.options.fingerprint,
                                  wall_s=round(time.monotonic() - self.started, 1), seconds=seconds or {})
        distributed.barrier()
        return metrics

    def finish_other_rank(self) -> None:
        """Ranks > 0: wait while rank 0 scores and reports."""
        distributed.barrier()

    def __exit__(self, kind, err, tb) -> None:
        try:
            if err is not None and self.lock is not None and not self.lock.lost:  # the lock is rank 0's
                self.run.write_status("interrupted" if was_interrupted(err) else "failed", **failure_details(err))
            tracking.finish(self.loggers, 0 if err is None else 1)
        finally:
            self._release_lock()
            close_run_log(self.log_file)
            self.interrupts.__exit__(None, None, None)


LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's, for train.log


def open_run_log(path: Path) -> logging.Handler:
    """Append the process's log records to ``train.log`` of the accepted run directory (what Hydra's file handler
    did before Hydra stopped writing into run directories)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def rank_log_name() -> str:
    """The log name of a rank > 0: Hydra's job name, which Lightning sets to ``train_ddp_process_<rank>``."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return str(HydraConfig.get().job.name)
    return f"rank_{distributed.global_rank()}"


def close_run_log(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()


def write_config_files(run: RunDir, config: Any, resume: bool) -> None:
    """``.hydra/config.yaml`` (the composed config) and ``overrides.yaml`` (the command line's overrides, what sweep
    tables read); a resumed run keeps the files it has."""
    from hydra.core.hydra_config import HydraConfig

    run.config.parent.mkdir(parents=True, exist_ok=True)
    if not (resume and run.config.is_file()):
        atomic_write_text(run.config, OmegaConf.to_yaml(config))
    if HydraConfig.initialized() and not (resume and run.overrides.is_file()):
        atomic_write_text(run.overrides, OmegaConf.to_yaml(OmegaConf.create(list(HydraConfig.get().overrides.task))))


def was_interrupted(err: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or the SystemExit Lightning raises after shutting down on one."""
    return isinstance(err, KeyboardInterrupt) or isinstance(err.__context__, KeyboardInterrupt)
