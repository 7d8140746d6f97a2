"""Applications, systems, projections, subscriptions and leases on the PostgreSQL store."""

from __future__ import annotations

import os
import statistics
import threading
import time
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from retell import Aggregate, Application, event
from retell.domain.events import DomainEvent
from retell.persistence.records import StoredEvent, Tracking
from retell.postgres import PostgresTrackingRecorder, listener
from retell.projection import Projection, ProjectionRunner
from retell.system import ProcessApplication, SingleThreadedRunner, System

from .helpers import (
    ADMIN_CONNINFO,
    Dog,
    Kennel,
    make_factory,
    postgres_env,
    scalar,
    unique_name,
)


class DogSchool(Application):
    snapshotting_intervals = {Dog: 2}


class Counter(Aggregate):
    @event("Started")
    def __init__(self, dog_id: UUID) -> None:
        self.dog_id = dog_id

    @staticmethod
    def create_id(dog_id: UUID) -> UUID:
        return UUID(int=dog_id.int ^ 1)


class Counters(ProcessApplication):
    def policy(self, domain_event: DomainEvent, processing_event: object) -> None:
        if isinstance(domain_event, Dog.Registered):  # type: ignore[attr-defined]
            processing_event.collect_events(Counter(domain_event.originator_id))  # type: ignore[attr-defined]


def test_save_get_snapshots_and_the_log(schema: str) -> None:
    with DogSchool(env=postgres_env(schema)) as school:
        dog = Dog("Fido")
        dog.add_trick("roll over")
        dog.add_trick("sit")
        recordings = school.save(dog)
        assert [r.notification_id for r in recordings] == [1, 2, 3]
        assert school.snapshots is not None
        assert school.snapshots.recorder.select_events(dog.id)  # a snapshot at version 2
        again = school.repository.get(dog.id)
        assert again.tricks == ["roll over", "sit"]
        assert school.repository.get(dog.id, version=1).tricks == []
        section = school.notification_log["1,10"]
        assert [n.id for n in section.items] == [1, 2, 3] and section.next_id is None
    with DogSchool(env=postgres_env(schema)) as school:  # another pool, same tables
        assert school.repository.get(dog.id).version == 3
        assert school.recorder.max_notification_id() == 3


def test_a_system_of_two_applications(schema: str) -> None:
    system = System(pipes=[[DogSchool, Counters]])
    runner = SingleThreadedRunner(system, env=postgres_env(schema))
    runner.start()
    try:
        school = runner.get(DogSchool)
        dog = Dog("Rex")
        school.save(dog)
        counters = runner.get(Counters)
        assert counters.repository.get(Counter.create_id(dog.id)).dog_id == dog.id
        assert counters.recorder.max_tracking_id("DogSchool") == 1
    finally:
        runner.stop()


def test_another_process_commit_wakes_a_subscription(schema: str) -> None:
    """LISTEN/NOTIFY: faster than the one-second poll, though no one here saved."""
    reader = make_factory(schema)
    writer = make_factory(schema)  # its own pool and listener: another backend notifies
    recorder, writing = reader.application_recorder(), writer.application_recorder()
    latencies: list[float] = []
    try:
        with recorder.subscribe() as subscription:
            for version in range(1, 6):
                time.sleep(0.05)
                started = time.monotonic()
                writing.insert_events([StoredEvent(uuid4(), version, "t:T", b"s")])
                next(subscription)
                latencies.append(time.monotonic() - started)
    finally:
        reader.close()
        writer.close()
    assert statistics.median(latencies) < 0.5, latencies


def _notifications(channel: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection of its own that LISTENs on `channel`, as another process would."""
    connection = psycopg.connect(ADMIN_CONNINFO, autocommit=True)
    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return connection


def _received(
    connection: psycopg.Connection[tuple[object, ...]],
    seconds: float,
    stop_after: int | None = None,
) -> int:
    """How many notifications came within `seconds` (or until `stop_after` came)."""
    return sum(1 for _ in connection.notifies(timeout=seconds, stop_after=stop_after))


def test_a_busy_writer_sends_one_notify_per_interval_and_none_is_lost(schema: str) -> None:
    """Saves in a burst are announced together, at most one NOTIFY per NOTIFY_INTERVAL;
    a save made while the listener sleeps out the interval is announced at its end."""
    factory = make_factory(schema)
    recorder = factory.application_recorder()
    try:
        with _notifications(recorder._log.channel) as listening:
            started = time.monotonic()
            for version in range(1, 301):
                recorder.insert_events([StoredEvent(uuid4(), version, "t:T", b"s")])
            seconds = time.monotonic() - started
            received = _received(listening, 0.3)
            assert 1 <= received <= seconds / listener.NOTIFY_INTERVAL + 2, (received, seconds)
            for version in range(1, 6):
                recorder.insert_events([StoredEvent(uuid4(), version, "t:T", b"s")])
                assert _received(listening, 0.5, stop_after=1) == 1  # the save's NOTIFY...
                # ...so the listener is sleeping out the interval: this one is sent at its
                # end, not after the idle wait of seconds.
                recorder.insert_events([StoredEvent(uuid4(), version, "t:T", b"s")])
                assert _received(listening, 0.5, stop_after=1) == 1
    finally:
        factory.close()


def test_the_listener_comes_back_after_losing_its_connection(schema: str) -> None:
    name = unique_name("Reader")
    reader, writer = make_factory(schema, name), make_factory(schema, name)
    recorder, writing = reader.application_recorder(), writer.application_recorder()
    try:
        with recorder.subscribe() as subscription:
            killed = scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %%' AND application_name = %s",
                (f"retell {name}",),
            )
            assert killed >= 1
            time.sleep(0.5)  # it reconnects after a tenth of a second
            started = time.monotonic()
            writing.insert_events([StoredEvent(uuid4(), 1, "t:T", b"s")])
            next(subscription)
            assert time.monotonic() - started < 0.9
    finally:
        reader.close()
        writer.close()


class TrickCounts(PostgresTrackingRecorder):
    create_view_statements = (
        "CREATE TABLE IF NOT EXISTS trick_counts (dog_id uuid PRIMARY KEY, tricks int NOT NULL)",
    )

    def add_trick(self, dog_id: UUID, tracking: Tracking) -> None:
        with self.transaction(tracking) as cursor:
            cursor.execute(
                "INSERT INTO trick_counts VALUES (%s, 1) "
                "ON CONFLICT (dog_id) DO UPDATE SET tricks = trick_counts.tricks + 1",
                (dog_id,),
            )

    def tricks(self, dog_id: UUID) -> int:
        rows = self.read("SELECT tricks FROM trick_counts WHERE dog_id = %s", (dog_id,))
        return int(rows[0][0]) if rows else 0

    def clear(self) -> None:
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM trick_counts")


class CountTricks(Projection[TrickCounts]):
    topics = (Dog.TrickAdded,)  # type: ignore[attr-defined]

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        self.view.add_trick(domain_event.originator_id, tracking)

    def reset_view(self) -> None:
        self.view.clear()


def test_a_projection_into_a_view(schema: str) -> None:
    with ProjectionRunner(DogSchool, CountTricks, TrickCounts, env=postgres_env(schema)) as runner:
        rex = Dog("Rex")
        rex.add_trick("sit")
        rex.add_trick("beg")
        runner.app.save(rex)
        runner.wait(runner.app.recorder.max_notification_id())
        assert runner.view.tricks(rex.id) == 2
        with pytest.raises(Exception, match="processed already"):
            runner.view.add_trick(rex.id, Tracking("DogSchool", 1))
        assert runner.view.tricks(rex.id) == 2
    assert scalar(f"SELECT count(*) FROM {schema}.trick_counts") == 1  # in POSTGRES_SCHEMA


def test_a_lease_is_held_by_one_session_and_dies_with_it(schema: str) -> None:
    first, second = make_factory(schema), make_factory(schema)
    try:
        mine, theirs = first.lease("follower:Counters"), second.lease("follower:Counters")
        assert mine.acquire()
        assert mine.acquire()  # again: still ours
        assert not theirs.acquire()
        assert first.lease("follower:Other").acquire()
        scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid <> pg_backend_pid()"
            " AND (classid::bigint << 32 | objid::bigint) = %s",
            (mine.key,),  # type: ignore[attr-defined]
        )
        assert not mine.is_held()
        assert theirs.acquire()
        theirs.release()
        assert mine.acquire()
    finally:
        first.close()
        second.close()


def test_concurrent_first_use_makes_the_tables_once(schema: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            DogSchool(env=postgres_env(schema)).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with psycopg.connect(ADMIN_CONNINFO) as admin:
        rows = admin.execute(
            f'SELECT name, version FROM "{schema}".retell_schema_versions ORDER BY name'
        ).fetchall()
    assert rows == [
        ("dogschool_events", 1),
        ("dogschool_snapshots", 1),
        ("retell_functions", 1),
    ]


def test_a_forked_child_uses_connections_of_its_own(schema: str) -> None:
    """A pre-loading server forks after the application is made: both go on working."""
    with Kennel(env=postgres_env(schema)) as kennel:
        kennel.save(Dog("before"))
        pid = os.fork()
        if pid == 0:  # the child: exit at once, whatever happens, without pytest's teardown
            code = 1
            try:
                kennel.save(Dog("child"))
                code = 0 if len(kennel.recorder.select_notifications(None, 10)) == 2 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        kennel.save(Dog("after"))  # the parent's sessions were left alone
        assert len(kennel.recorder.select_notifications(None, 10)) == 3
