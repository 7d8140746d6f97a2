"""Leases: one holder at a time, and a file lease dies with its process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from retell.persistence.leases import FileLease, ProcessLocalLease


def test_process_local_lease_is_exclusive_until_released() -> None:
    first, second = ProcessLocalLease("follower:A"), ProcessLocalLease("follower:A")
    assert first.acquire() and first.acquire()
    assert not second.acquire() and not second.is_held() and first.is_held()
    assert ProcessLocalLease("follower:B").acquire()
    first.release()
    assert not first.is_held()
    assert second.acquire()
    second.release()


def test_file_lease_is_exclusive_between_holders(tmp_path: Path) -> None:
    path = str(tmp_path / "follower.lock")
    first, second = FileLease("A", path), FileLease("A", path)
    assert first.acquire() and first.is_held()
    assert not second.acquire() and not second.is_held()
    first.release()
    assert not first.is_held()
    assert second.acquire()
    second.release()


def test_file_lease_is_released_when_its_process_is_killed(tmp_path: Path) -> None:
    path = str(tmp_path / "follower.lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import sys, time
from retell.persistence.leases import FileLease
lease = FileLease("A", {path!r})
assert lease.acquire()
print("held", flush=True)
time.sleep(60)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        standby = FileLease("A", path)
        assert not standby.acquire()
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 5
        while not standby.acquire():
            assert time.monotonic() < deadline, "the lease outlived its process"
            time.sleep(0.05)
        standby.release()
    finally:
        holder.kill()
