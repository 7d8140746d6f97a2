"""manage.py run_followers in real processes: leases, SIGTERM, and a SIGKILL mid-batch.

Each worker process logs what it starts (the follower in WORKER_LOG, the projection
in KENNEL_LOG, both before their transactions commit), so the logs show which
process processed what, and what was started twice; the stores show what was
committed, which must be each event exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.django.helpers import env
from tests.django_commands.helpers import lines, manage, school, wait_for
from tests.django_commands.kennel.models import TrickTally
from tests.test_system import Dog
from tests.worker_system import SlowCounters

# SQLite, whose lease is a file lock, and PostgreSQL, whose lease is an advisory lock.
pytestmark = pytest.mark.parametrize(
    "alias", ["default", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def tricks(alias: str) -> int:
    row = TrickTally.objects.using(alias).filter(dog_id=Dog.create_id("Fido")).first()
    return 0 if row is None else row.tricks


def counters(alias: str) -> tuple[int | None, int, int]:
    """The follower's position, how many events it recorded, and for how many upstream events."""
    with SlowCounters(env=env(alias)) as follower:
        recorded = follower.recorder.select_notifications(None, 1000)
        position = follower.recorder.max_tracking_id("TrainingSchool")
    return position, len(recorded), len({n.originator_id for n in recorded})


def stop(*workers: subprocess.Popen[str]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, str]:
    return {"WORKER_LOG": str(tmp_path / "counters.log"), "KENNEL_LOG": str(tmp_path / "tally.log")}


@pytest.mark.slow
def test_two_workers_never_both_process_and_hand_over_on_sigterm(
    alias: str, logs: dict[str, str]
) -> None:
    app: Any = school(alias)
    app.register("Fido")
    first = manage(alias, "run_followers", **logs)
    second = manage(alias, "run_followers", **logs)
    try:
        assert first.stdout is not None and second.stdout is not None
        assert "running followers: Counters; projections: Tally" in first.stdout.readline()
        assert "running" in second.stdout.readline()
        for i in range(10):
            app.add_trick("Fido", f"trick {i}")
        wait_for(lambda: tricks(alias) == 10 and len(lines(Path(logs["WORKER_LOG"]))) == 10)
        for log in logs.values():
            assert len({pid for pid, _ in lines(Path(log))}) == 1, "both processed"
        # Each lease is taken by one worker; the two leases may go to different workers.
        holders = {log: lines(Path(log))[0][0] for log in logs.values()}
        active = holders[logs["KENNEL_LOG"]]
        standby = second if active == first.pid else first
        active_worker = first if standby is second else second
        active_worker.send_signal(signal.SIGTERM)
        out, err = active_worker.communicate(timeout=20)
        assert active_worker.returncode == 0, err
        assert out.endswith(f"Worker {active_worker.pid} stopped.\n")
        for i in range(10, 15):
            app.add_trick("Fido", f"trick {i}")
        wait_for(lambda: tricks(alias) == 15 and counters(alias)[1] == 30, what="the takeover")
    finally:
        app.close()
        stop(first, second)
    for log, holder in holders.items():
        pids = [pid for pid, _ in lines(Path(log))]
        if holder == active:  # the stopped worker's lease went over to the standby
            assert pids == [active] * 10 + [standby.pid] * 5
        else:  # the other worker held this one all along
            assert pids == [holder] * 15
    assert counters(alias) == (app.recorder.max_notification_id(), 30, 15)


@pytest.mark.slow
def test_a_worker_killed_mid_batch_resumes_and_applies_each_event_once(
    alias: str, logs: dict[str, str]
) -> None:
    with school(alias) as app:
        app.register("Fido")
        for i in range(12):
            app.add_trick("Fido", f"trick {i}")
        last = app.recorder.max_notification_id()
    tally_log = Path(logs["KENNEL_LOG"])
    slow = manage(alias, "run_followers", KENNEL_DELAY="0.3", WORKER_DELAY="0.02", **logs)
    try:
        wait_for(lambda: len(lines(tally_log)) >= 3, what="the slow worker to start processing")
    finally:
        os.kill(slow.pid, signal.SIGKILL)
        slow.communicate(timeout=20)
    started = [what for _, what in lines(tally_log)]
    # The killed worker was inside the transaction of the run of events it logged
    # last: the runs before it were committed, that one was not.
    committed = tricks(alias)
    assert committed < len(started)
    in_flight = started[committed:]

    worker = manage(alias, "run_followers", **logs)
    try:
        wait_for(lambda: tricks(alias) == 12 and counters(alias)[0] == last, what="the restart")
    finally:
        stop(worker)
    assert worker.returncode == 0
    everything = [what for _, what in lines(tally_log)]
    assert all(everything.count(what) == 2 for what in in_flight)  # started twice
    assert all(everything.count(what) == 1 for what in started[:committed])
    assert tricks(alias) == 12  # applied once
    assert counters(alias) == (last, 24, 12)  # the follower's store: each event once
