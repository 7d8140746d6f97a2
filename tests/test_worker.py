"""Workers: one active process per follower, takeover when it dies, clean SIGTERM."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from retell.errors import RetellError
from retell.system import Runner
from retell.system.worker import Worker, follower_status
from tests.dogschool import TrainingSchool
from tests.worker_system import SlowCounters, system

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(shared_store_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A store that processes can share (SQLite, PostgreSQL), and the follower's log file."""
    return {**shared_store_env, "WORKER_LOG": str(tmp_path / "processed.log")}


def processed(tmp_path: Path) -> list[tuple[int, int]]:
    log = tmp_path / "processed.log"
    if not log.exists():
        return []
    rows = (line.split() for line in log.read_text().splitlines() if line)
    return [(int(pid), int(position)) for pid, position, _ in rows]


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_workers_in_one_process_share_a_follower(
    env: dict[str, str], tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WORKER_LOG", env["WORKER_LOG"])
    first, second = Worker(system, env), Worker(system, env)
    first.takeover_interval = second.takeover_interval = 0.1
    first.start()
    wait_for(lambda: first.states.get("Counters") == "active")
    second.start()
    try:
        school: Any = first.get(TrainingSchool)
        school.register("Fido")
        for i in range(10):
            school.add_trick("Fido", str(i))
        wait_for(lambda: len(processed(tmp_path)) == 10)
        assert second.states["Counters"] == "standby"
        first.stop()
        wait_for(lambda: second.states.get("Counters") == "active")
        school = second.get(TrainingSchool)
        school.add_trick("Fido", "after")
        wait_for(lambda: len(processed(tmp_path)) == 11)
        # The policy logs before its transaction commits: wait for the position itself.
        second.follower("Counters").recorder.wait("TrainingSchool", 12, timeout=20)
        (line,) = second.status()
        assert (line.position, line.leader_position, line.lag) == (12, 12, 0)
        assert "lag 0 (active)" in str(line)
    finally:
        first.stop()
        second.stop()
    positions = [n for _, n in processed(tmp_path)]
    assert positions == sorted(set(positions)), "an event was processed twice"


def test_unknown_follower_names_are_refused() -> None:
    with pytest.raises(RetellError, match="Nobody: not followers"):
        Worker(system, {}, ["Nobody"])


def retell_command(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    """``python -m retell ARGS`` in a process of its own, importing this test package."""
    return subprocess.Popen(
        [sys.executable, "-m", "retell", *args],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
        text=True,
        **kwargs,
    )


def start_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return retell_command("run", "tests.worker_system:system", env=env, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_worker_processes_take_over_and_never_overlap(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "WORKER_DELAY": "0.02"}
    school: Any = TrainingSchool(env=env)
    school.register("Fido")
    workers = [start_worker(env) for _ in range(3)]
    try:
        for i in range(30):
            school.add_trick("Fido", str(i))
        wait_for(lambda: len(processed(tmp_path)) >= 10)
        active = processed(tmp_path)[-1][0]
        os.kill(active, signal.SIGKILL)
        for i in range(30, 60):
            school.add_trick("Fido", str(i))
        wait_for(lambda: len({n for _, n in processed(tmp_path)}) == 60, timeout=30)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
    lines = processed(tmp_path)
    positions = [n for _, n in lines]
    assert set(positions) == set(range(2, 62)), "lost events"
    # The policy logs before its transaction commits, so the batch the killed worker
    # had in hand may be logged twice: processed again, since it never committed.
    repeated = sorted({n for n in positions if positions.count(n) > 1})
    assert len(repeated) <= SlowCounters.batch_size
    assert repeated == list(range(min(repeated, default=0), max(repeated, default=-1) + 1)), (
        f"only the batch in flight may be retried, not {repeated}"
    )
    # What committed is in the store, once each:
    counters = SlowCounters(env=env)
    assert counters.recorder.max_tracking_id("TrainingSchool") == 61
    recorded = counters.recorder.select_notifications(None, 1000)
    assert len(recorded) == 60 * 2, "each upstream event must be recorded exactly once"
    assert len({n.originator_id for n in recorded}) == 60
    pids = [p for p, _ in lines]
    changes = sum(1 for a, b in itertools.pairwise(pids) if a != b)
    assert changes <= 2, f"processes alternated: {pids}"
    survivors = [w for w in workers if w.pid != active]
    errors = [w.stderr.read() for w in survivors if w.stderr]
    assert all(w.returncode == 0 for w in survivors), errors


def test_status_command(env: dict[str, str]) -> None:
    school: Any = TrainingSchool(env=env)
    school.register("Fido")
    school.add_trick("Fido", "roll")
    status = retell_command("status", "tests.worker_system:system", env=env, stdout=subprocess.PIPE)
    out, _ = status.communicate(timeout=60)
    assert status.returncode == 0 and "Counters <- TrainingSchool: at 0 of 2, lag 2" in out
    with Runner(system, env) as runner:
        assert follower_status(runner, ["Counters"])[0].lag == 2
    bad = retell_command("status", "tests.worker_system:nothing", env={}, stderr=subprocess.PIPE)
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 1 and "has no 'nothing'" in err
