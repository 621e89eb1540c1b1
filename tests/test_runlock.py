"""One writer per run directory: a second process is refused, a gone holder's lock is taken over, and a holder
whose lock was taken records nothing more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from clipmem.errors import RunDirError
from clipmem.run.runlock import RunLock
from clipmem.rundir import LOCK_NAME, RunDir

from .conftest import run_script


def _foreign_lock(root, **record) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / LOCK_NAME).write_text(json.dumps({"token": "other", "started": "2026-01-01T00:00:00", **record}))


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_a_live_holder_is_named_and_kept(tmp_path):
    first = RunLock(tmp_path / "run")
    first.acquire()
    try:
        holder = json.loads(first.path.read_text())
        assert holder["pid"] == os.getpid() and holder["token"] == first.token
        with pytest.raises(RunDirError, match=rf"in use by another run \(pid {os.getpid()} on .*delete .*run.lock"):
            RunLock(tmp_path / "run").acquire()
        assert json.loads(first.path.read_text())["token"] == first.token  # the refused one changed nothing
        first.ensure_held()
    finally:
        first.release()
    assert not first.path.exists()


def test_the_lock_of_a_gone_process_is_taken_over(tmp_path, caplog):
    import socket

    root = tmp_path / "run"
    _foreign_lock(root, pid=_dead_pid(), host=socket.gethostname())
    lock = RunLock(root)
    lock.acquire()
    try:
        assert json.loads(lock.path.read_text())["token"] == lock.token
        assert "taking over the lock of a run that is gone" in caplog.text
    finally:
        lock.release()
    _foreign_lock(root, pid=os.getpid(), host=socket.gethostname())  # a live pid that never refreshed: reused
    old = time.time() - 600
    os.utime(root / LOCK_NAME, (old, old))
    lock = RunLock(root, stale_s=300)
    lock.acquire()
    lock.release()


def test_another_hosts_lock_counts_until_it_is_stale(tmp_path):
    root = tmp_path / "run"
    _foreign_lock(root, pid=1, host="some-other-node")
    with pytest.raises(RunDirError, match="pid 1 on some-other-node"):
        RunLock(root, stale_s=60).acquire()
    old = time.time() - 120
    os.utime(root / LOCK_NAME, (old, old))
    lock = RunLock(root, stale_s=60)
    lock.acquire()
    lock.release()
    assert not (root / LOCK_NAME).exists()


def test_a_holder_whose_lock_was_taken_notices_and_leaves_the_new_lock(tmp_path):
    lock = RunLock(tmp_path / "run", heartbeat_s=0.05)
    lock.acquire()
    old = time.time() - 100
    os.utime(lock.path, (old, old))
    deadline = time.time() + 5
    while time.time() - lock.path.stat().st_mtime > 50 and time.time() < deadline:
        time.sleep(0.02)
    assert time.time() - lock.path.stat().st_mtime < 50  # the heartbeat refreshes the time stamp
    _foreign_lock(tmp_path / "run", pid=1, host="elsewhere")  # taken over by another process
    with pytest.raises(RunDirError, match="deleted or taken over"):
        lock.ensure_held()
    lock.release()
    assert json.loads(lock.path.read_text())["token"] == "other"  # not this process's to delete


def test_a_run_into_a_directory_another_process_writes_stops_before_writing(tmp_path):
    run_dir = tmp_path / "run"
    holder = RunLock(run_dir)
    holder.acquire()
    try:
        done = run_script("train.py", "debug=fast", f"run_dir={run_dir}", f"hydra.run.dir={run_dir}")
    finally:
        holder.release()
    assert done.returncode == 1
    assert f"in use by another run (pid {os.getpid()}" in done.stderr, done.stderr[-1500:]
    assert not RunDir(run_dir).status.exists()  # nothing written: no status of its own, no failure recorded
    assert sorted(p.name for p in run_dir.iterdir()) == []


def test_a_run_that_lost_its_directory_publishes_no_file_into_it(tmp_path):
    from clipmem.io import atomic_write_text, write_guard

    lock = RunLock(tmp_path / "run")
    lock.acquire()
    with write_guard(lock.guard):
        atomic_write_text(tmp_path / "run" / "scores.csv", "ours\n")  # held: written
        _foreign_lock(tmp_path / "run", pid=1, host="elsewhere")
        with pytest.raises(RunDirError, match="deleted or taken over"):
            atomic_write_text(tmp_path / "run" / "scores.csv", "late\n")
        atomic_write_text(tmp_path / "elsewhere.txt", "fine\n")  # outside the run directory: not its business
    lock.release()
    assert (tmp_path / "run" / "scores.csv").read_text() == "ours\n"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME, "scores.csv"]  # no temporary left
