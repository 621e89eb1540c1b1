"""One writer per run directory: ``run.lock`` names the process that writes into it.

Two processes writing into one run directory mix their files without any error (a sweep restarted while the
workers of its first launch still run does this). The run's rank-zero process creates ``run.lock`` exclusively
before it decides anything about the directory, refreshes its time stamp from a background thread, and removes
it when the run ends. A second process finds the lock and stops with the holder's pid, host and start time,
unless the holder is gone: its pid no longer exists (same host), its time stamp is older than ``stale_s``
(any host: a live holder refreshes it every ``heartbeat_s``), or it is the earlier attempt of this requeued
SLURM job. A holder whose lock was taken from it (deleted, or taken over as stale) publishes no further file
into the directory (``guard``, checked by every atomic write), records neither success nor failure, and leaves
the new holder's lock in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clipmem.errors import RunDirError
from clipmem.rundir import LOCK_NAME

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_text(holder: dict[str, Any], age_s: float) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}, "
            f"lock refreshed {age_s:.0f} s ago")


@dataclass
class RunLock:
    """The lock of the run directory ``root``.

    Args:
        root: the run directory (created if missing).
        heartbeat_s: seconds between refreshes of the lock's time stamp.
        stale_s: a lock of another host not refreshed for this many seconds is taken over.
    """

    root: Path
    heartbeat_s: float = 30.0
    stale_s: float = 300.0
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()  # once: the write guard compares every written path with it

    @property
    def path(self) -> Path:
        return self.root / LOCK_NAME

    def _record(self) -> dict[str, Any]:
        return {"token": self.token, "pid": os.getpid(), "host": socket.gethostname(),
                "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
                "started": dt.datetime.now().isoformat(timespec="seconds")}

    def read_holder(self) -> tuple[dict[str, Any], float] | None:
        """The lock's record and its age in seconds (since its last refresh), or None without a lock."""
        try:
            text, mtime = self.path.read_text(), self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(text)
        except json.JSONDecodeError:
            holder = {}  # a lock being written this instant, or a broken one: judged by its age alone
        return holder, time.time() - mtime

    def holder_gone(self, holder: dict[str, Any], age_s: float) -> bool:
        """Whether the process that holds the lock has ended (see the module's docstring)."""
        requeued = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0
        if requeued and holder.get("slurm_job_id") and holder.get("slurm_job_id") == os.environ.get("SLURM_JOB_ID"):
            return True
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
            return not _pid_alive(holder["pid"]) or age_s > self.stale_s  # a live pid without refreshes: reused
        return age_s > self.stale_s

    def acquire(self) -> None:
        """Create the lock, or take over a gone holder's; start refreshing it.

        Raises:
            RunDirError: another live process holds the lock (the message names it and how to clear it).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            self._take_over()
        else:
            with os.fdopen(fd, "w") as f:
                json.dump(self._record(), f)
        self._thread = threading.Thread(target=self._refresh, name="clipmem-run-lock", daemon=True)
        self._thread.start()

    def _take_over(self) -> None:
        found = self.read_holder()
        if found is not None:
            holder, age = found
            if not self.holder_gone(holder, age):
                raise RunDirError(
                    f"{self.root} is in use by another run ({_holder_text(holder, age)}); two runs writing into one "
                    f"directory mix their files. Stop that process or wait for it; if it no longer runs, delete "
                    f"{self.path}")
            log.warning("%s: taking over the lock of a run that is gone (%s)", self.root, _holder_text(holder, age))
        tmp = self.path.with_name(f".{LOCK_NAME}.{self.token}")
        tmp.write_text(json.dumps(self._record()))
        os.replace(tmp, self.path)
        found = self.read_holder()
        if found is None or found[0].get("token") != self.token:  # another process took it in the same instant
            raise RunDirError(f"{self.root}: another process took over its lock at the same time; run again")

    def _refresh(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.check_held()
            if self.lost:
                return
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def check_held(self) -> None:
        """Set ``lost`` when the lock is gone or names another process."""
        found = self.read_holder()
        if found is None or found[0].get("token") != self.token:
            if not self.lost:
                log.error("%s: this run's lock was deleted or taken over by another process; it records nothing "
                          "more", self.root)
            self.lost = True

    def ensure_held(self) -> None:
        """Raise if the lock is no longer this process's (checked now, not only at the last refresh).

        Raises:
            RunDirError: the lock was deleted or taken over.
        """
        self.check_held()
        if self.lost:
            raise RunDirError(f"{self.root}: this run's lock ({self.path}) was deleted or taken over by another "
                              "process; its results are not recorded (another run writes into this directory)")

    def guard(self, path: Path) -> None:
        """A write guard (clipmem.io.write_guard): refuse to publish a file inside this run directory once the
        lock is no longer this process's.

        Raises:
            RunDirError: ``path`` lies inside the run directory and the lock was deleted or taken over.
        """
        if Path(path).resolve().is_relative_to(self.root):
            self.ensure_held()

    def release(self) -> None:
        """Stop refreshing; delete the lock where it is still this process's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        found = self.read_holder()
        if found is not None and found[0].get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
