"""A worker whose lease is lost stops within one batch, even in the middle of a backlog.

The lease's lock lives on a connection of its own, which can end while the worker's
other connections go on (a failover, an idle timeout, pg_terminate_backend). A standby
then takes the lease within about a second; a worker that looked at its lease only
once caught up would run the policy beside it on the same events until then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from retell import Aggregate, event
from retell.domain.events import DomainEvent
from retell.persistence.records import Tracking
from retell.postgres import PostgresTrackingRecorder
from retell.postgres.lease import lease_key
from retell.projection import Projection, ProjectionRunner
from retell.system import ProcessApplication, ProcessingEvent, System
from retell.system.worker import Worker, follower_lease, projection_lease
from tests.dogschool import Dog, TrainingSchool

from .cluster import Cluster

BACKLOG = 2_000
DELAY = 0.002
"""Seconds the policy takes per event: the backlog takes four seconds or more."""

_runs: list[tuple[int, int, float]] = []
"""(id of the follower or projection object, position, when) of each event's processing."""
_runs_lock = threading.Lock()


def ran(who: object, position: int) -> None:
    with _runs_lock:
        _runs.append((id(who), position, time.monotonic()))
    time.sleep(DELAY)


def runs_of(who: object) -> list[tuple[int, float]]:
    with _runs_lock:
        return [(position, when) for by, position, when in _runs if by == id(who)]


class Mark(Aggregate):
    """What the policy makes of one upstream event: one per position, ever."""

    @event("Made")
    def __init__(self, position: int) -> None:
        self.position = position

    @staticmethod
    def create_id(position: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"/marks/{position}")


class Marks(ProcessApplication):
    topics = (Dog.TrickAdded,)  # type: ignore[attr-defined]

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        position = processing_event.tracking.notification_id
        ran(self, position)
        processing_event.collect_events(Mark(position))


system = System(pipes=[[TrainingSchool, Marks]])


class MarksView(PostgresTrackingRecorder):
    """One row per event projected: a second attempt at one breaks the primary key."""

    create_view_statements = ("CREATE TABLE IF NOT EXISTS marks (position int PRIMARY KEY)",)

    def mark(self, positions: Sequence[int], tracking: Tracking) -> None:
        with self.transaction(tracking) as cursor:
            cursor.executemany("INSERT INTO marks VALUES (%s)", [(p,) for p in positions])

    def positions(self) -> list[int]:
        return [row[0] for row in self.read("SELECT position FROM marks ORDER BY position")]


class MarkRuns(Projection[MarksView]):
    topics = (Dog.TrickAdded,)  # type: ignore[attr-defined]
    batch_size: ClassVar[int] = 100

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        self.process_events([(domain_event, tracking)])

    def process_events(self, events: Sequence[tuple[DomainEvent, Tracking]]) -> None:
        positions = [tracking.notification_id for _, tracking in events]
        for position in positions:
            ran(self, position)
        last = events[-1][1]
        self.view.mark(
            positions, Tracking(last.application_name, last.notification_id, first_id=positions[0])
        )


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def save_backlog(env: dict[str, str]) -> int:
    """A dog with BACKLOG tricks, in one transaction; the log's last position."""
    with TrainingSchool(env=env) as school:
        dog = Dog("Fido")
        for i in range(BACKLOG):
            dog.add_trick(str(i))
        school.save(dog)
        end = school.recorder.max_notification_id()
    assert end == BACKLOG + 1
    return end


def cut_lease_connection(cluster: Cluster, schema: str, lease: str) -> None:
    """End the connection that holds the lease, and no other; return once it is gone."""
    key = lease_key(schema, lease)
    (pid,) = cluster.admin(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
        f"AND (classid::bigint << 32 | objid::bigint) = {key}",
        dbname="test",
    )
    assert cluster.admin(f"SELECT pg_terminate_backend({pid[0]})") == [(True,)]
    wait_for(lambda: not cluster.admin(f"SELECT 1 FROM pg_stat_activity WHERE pid = {pid[0]}"))


def cut_and_take_over(
    cluster: Cluster,
    schema: str,
    name: str,
    lease: str,
    workers: tuple[Worker, Worker],
    processor: Callable[[Worker], object],
    caught_up: Callable[[], bool],
    *,
    burst: bool = False,
) -> tuple[object, object, float]:
    """Cut the first worker's lease once it has processed some of the backlog, with
    the second standing by; wait until the second has processed everything."""
    first, second = workers
    second.takeover_interval = second.retry_delay = 0.05
    _runs.clear()
    try:
        first.start()
        a = processor(first)
        if burst:  # the events come while it follows live, not before it starts
            wait_for(lambda: first.states.get(name) == "active")
            save_backlog(cluster.env(schema))
        wait_for(lambda: len(runs_of(a)) >= 300)
        second.start()
        b = processor(second)
        wait_for(lambda: second.states.get(name) == "standby")
        cut_lease_connection(cluster, schema, lease)
        cut = time.monotonic()
        wait_for(lambda: second.states.get(name) == "active")
        wait_for(lambda: first.states.get(name) != "active")
        wait_for(caught_up)
    finally:
        first.stop()
        second.stop()
    return a, b, cut


def assert_stopped_within_one_batch(a: object, b: object, cut: float, batch: int) -> None:
    after_cut = [position for position, when in runs_of(a) if when > cut]
    assert len(after_cut) <= batch, f"{len(after_cut)} events processed after the lease was lost"
    both = {p for p, _ in runs_of(a)} & {p for p, _ in runs_of(b)}
    assert len(both) <= batch, f"{len(both)} events processed by both workers"


@pytest.mark.parametrize("burst", [False, True], ids=["backlog", "live-burst"])
def test_a_follower_that_loses_its_lease_stops_within_one_batch(
    cluster: Cluster, schema: str, burst: bool
) -> None:
    env = cluster.env(schema)
    end = BACKLOG + 1
    if not burst:
        save_backlog(env)
    with Marks(env=env) as marks:
        a, b, cut = cut_and_take_over(
            cluster,
            schema,
            "Marks",
            follower_lease("Marks"),
            (Worker(system, env), Worker(system, env)),
            lambda worker: worker.follower("Marks"),
            lambda: marks.recorder.max_tracking_id("TrainingSchool") == end,
            burst=burst,
        )
        assert_stopped_within_one_batch(a, b, cut, Marks.batch_size)
        # Exactly once: one mark per position, all of them, whoever processed it.
        made = marks.recorder.select_notifications(1, 2 * BACKLOG)
        ids: list[Any] = [n.originator_id for n in made]
        assert len(ids) == BACKLOG
        assert set(ids) == {Mark.create_id(p) for p in range(2, end + 1)}


def test_a_projection_that_loses_its_lease_stops_within_one_batch(
    cluster: Cluster, schema: str
) -> None:
    env = cluster.env(schema)
    end = save_backlog(env)

    def worker() -> Worker:
        runner = ProjectionRunner(TrainingSchool, MarkRuns, MarksView, env)
        return Worker(System(pipes=[]), env, projections=[runner])

    looking = ProjectionRunner(TrainingSchool, MarkRuns, MarksView, env)  # never started
    try:
        view = looking.view
        a, b, cut = cut_and_take_over(
            cluster,
            schema,
            "MarkRuns",
            projection_lease("MarkRuns"),
            (worker(), worker()),
            lambda worker: worker.projections["MarkRuns"].projection,
            lambda: view.max_tracking_id("TrainingSchool") == end,
        )
        assert_stopped_within_one_batch(a, b, cut, MarkRuns.batch_size)
        assert view.positions() == list(range(2, end + 1))
    finally:
        looking.stop()
