"""The global log's promise, against real concurrency: see docs/global-log.md.

A reader that has seen position p never later finds a new event at a position <= p,
and never skips one: what a reader tailing the log read, while writers in several
processes committed out of order, rolled back and were killed, is the final log.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from retell.errors import OperationalError
from retell.postgres import NotificationLog, PostgresApplicationRecorder, protocol

from .helpers import ADMIN_CONNINFO, make_factory
from .workers import APP, events, write, write_and_hang

WRITERS = 8
SAVES_PER_WRITER = 120

KILLED_WRITER_STALL_BOUND = 3.0
"""Seconds within which readers move past the id of a writer killed mid-transaction
(PostgreSQL notices the closed socket at once; docs/global-log.md gives the bound)."""


@pytest.fixture
def recorder(schema: str) -> Iterator[PostgresApplicationRecorder]:
    factory = make_factory(schema, APP)
    recorder = factory.application_recorder()
    yield recorder
    factory.close()


def test_eight_writer_processes_and_a_tailing_reader(
    schema: str, recorder: PostgresApplicationRecorder
) -> None:
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    writers = [
        context.Process(target=write, args=(schema, seed, SAVES_PER_WRITER, results))
        for seed in range(WRITERS)
    ]
    for writer in writers:
        writer.start()

    seen: list[int] = []
    last = 0
    while True:
        finished = not any(w.is_alive() for w in writers)
        page = recorder.select_notifications(last + 1, 50)
        for notification in page:
            assert notification.id > last, "positions went backwards"
            last = notification.id
            seen.append(last)
        if finished and not page:
            break
    outcomes = [results.get(timeout=60) for _ in writers]
    for writer in writers:
        writer.join(timeout=60)
    assert all(isinstance(o, list) for o in outcomes), outcomes
    committed = sorted(i for ids in outcomes for i in ids)

    final = [n.id for n in recorder.select_notifications(None, 1_000_000)]
    assert seen == final, "the tailing reader skipped or reordered events"
    assert final == committed, "the log holds exactly the committed events"
    highest = recorder.max_notification_id()
    assert highest is not None
    assert len(final) < highest, "rolled-back saves should have left gaps to pass"


def test_a_writer_killed_mid_transaction_loses_only_its_save(
    schema: str, recorder: PostgresApplicationRecorder
) -> None:
    recorder.insert_events(events(1))
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    writer = context.Process(target=write_and_hang, args=(schema, results))
    writer.start()
    try:
        (hung,) = results.get(timeout=60)
        (after,) = recorder.insert_events(events(1))
        assert after > hung
        # The reader stops below the writer still in flight: never past its id.
        assert [n.id for n in recorder.select_notifications(hung, 10)] == []
        assert recorder.max_notification_id() == hung - 1
    finally:
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(timeout=10)
    killed = time.monotonic()
    while not recorder.select_notifications(hung, 10):
        assert time.monotonic() - killed < KILLED_WRITER_STALL_BOUND, "readers stayed stalled"
        time.sleep(0.01)
    assert [n.id for n in recorder.select_notifications(None, 10)] == [1, after]


def test_writers_never_wait_for_one_another(schema: str) -> None:
    """A transaction in flight holds only a shared lock: another writer saves meanwhile."""
    factory = make_factory(schema, APP, POSTGRES_LOCK_TIMEOUT="1")
    recorder = factory.application_recorder()
    log = NotificationLog(factory.tables)
    try:
        with psycopg.connect(ADMIN_CONNINFO) as open_transaction:
            with open_transaction.cursor() as cursor:
                (first,) = protocol.insert_notifications(cursor, log, events(1))
            started = time.monotonic()
            (second,) = recorder.insert_events(events(1))  # would time out if it waited
            assert time.monotonic() - started < 0.5
            assert second > first
            assert recorder.select_notifications(None, 10) == []  # first is in flight
            open_transaction.commit()
        assert [n.id for n in recorder.select_notifications(None, 10)] == [first, second]
    finally:
        factory.close()


def test_other_transactions_do_not_hold_readers_back(schema: str) -> None:
    """Unlike a transaction-id horizon, only this log's own writers can delay its readers:
    an idle transaction elsewhere, and a write in flight in another application's log,
    do not."""
    factory = make_factory(schema, APP)
    other = make_factory(schema, "OtherApp")
    recorder = factory.application_recorder()
    other_recorder = other.application_recorder()
    try:
        with (
            psycopg.connect(ADMIN_CONNINFO) as idle,
            psycopg.connect(ADMIN_CONNINFO) as writing,
        ):
            idle.execute("SELECT pg_catalog.pg_current_xact_id()")  # holds back the xmin
            with writing.cursor() as cursor:
                protocol.insert_notifications(cursor, NotificationLog(other.tables), events(1))
            ids = recorder.insert_events(events(2))
            assert [n.id for n in recorder.select_notifications(None, 10)] == list(ids)
            assert other_recorder.select_notifications(None, 10) == []
    finally:
        factory.close()
        other.close()


def test_positions_are_rebuilt_across_the_32_bit_wrap_of_lock_keys(
    schema: str, recorder: PostgresApplicationRecorder
) -> None:
    """A lock records 32 bits of an id; the horizon widens them back near the last id."""
    tables = make_factory(schema, APP).tables  # (a factory opens nothing until asked)
    sequence = tables.qualified(tables.sequence)
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
        admin.execute("SELECT pg_catalog.setval(%s::regclass, %s)", (sequence, 2**32 - 2))
    log = recorder._log
    with psycopg.connect(ADMIN_CONNINFO) as in_flight:
        with in_flight.cursor() as cursor:
            (held,) = protocol.insert_notifications(cursor, log, events(1))
        assert held == 2**32 - 1
        later = recorder.insert_events(events(3))  # 2^32, 2^32 + 1, 2^32 + 2: wrapped keys
        assert later[0] == 2**32
        assert recorder.select_notifications(None, 10) == []
        assert recorder.max_notification_id() is None
        in_flight.commit()
    assert [n.id for n in recorder.select_notifications(None, 10)] == [held, *later]


def test_a_save_waiting_on_a_lock_fails_after_the_lock_timeout(schema: str) -> None:
    """The same aggregate version saved by a transaction still open: an error, not a hang."""
    factory = make_factory(schema, APP, POSTGRES_LOCK_TIMEOUT="0.3")
    recorder = factory.application_recorder()
    batch = events(1)
    try:
        with psycopg.connect(ADMIN_CONNINFO) as open_transaction:
            with open_transaction.cursor() as cursor:
                protocol.insert_notifications(cursor, NotificationLog(factory.tables), batch)
            started = time.monotonic()
            with pytest.raises(OperationalError, match=r"POSTGRES_LOCK_TIMEOUT=0\.3"):
                recorder.insert_events(batch)
            assert time.monotonic() - started < 3
    finally:
        factory.close()


def test_readers_in_threads_and_processes_agree(
    schema: str, recorder: PostgresApplicationRecorder
) -> None:
    """The remembered horizon is shared by threads: each still reads the whole log."""
    barrier = threading.Barrier(4)
    pages: list[list[int]] = []

    def read() -> None:
        barrier.wait()
        for _ in range(20):
            recorder.insert_events(events(1))
        pages.append([n.id for n in recorder.select_notifications(None, 1000)])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = [n.id for n in recorder.select_notifications(None, 1000)]
    assert len(final) == 80
    for page in pages:
        assert page == final[: len(page)]
