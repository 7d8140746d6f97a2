"""The connections a thread keeps between statements: never more than the pool holds,
never two threads on one, and none left open or dead behind."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from retell.config import Environment
from retell.errors import PersistenceError
from retell.postgres.datastore import Cursor, PostgresDatastore
from retell.postgres.settings import PostgresSettings

from .helpers import Dog, Kennel, postgres_env, scalar, unique_name


@pytest.fixture
def name() -> str:
    """The application name, so the sessions of the test's datastore can be counted."""
    return unique_name("Keep")


def open_datastore(schema: str, name: str, pool_size: int, **more: str) -> PostgresDatastore:
    env = Environment(name, postgres_env(schema, POSTGRES_POOL_SIZE=str(pool_size), **more))
    return PostgresDatastore(PostgresSettings.from_env(env))


@pytest.fixture
def datastore(schema: str, name: str) -> Iterator[PostgresDatastore]:
    store = open_datastore(schema, name, pool_size=2)
    try:
        yield store
    finally:
        store.close()


def backend(cursor: Cursor) -> int:
    pid: int = cursor.connection.info.backend_pid
    return pid


def sessions(name: str) -> int:
    count: int = scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (f"retell {name}",)
    )
    return count


def in_threads(count: int, work: Callable[[int], Any]) -> list[BaseException]:
    """Run `work(i)` in `count` threads at once; the errors they raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return errors


def test_a_thread_keeps_its_connection_between_statements(datastore: PostgresDatastore) -> None:
    first = datastore.read(backend)
    assert datastore.write(backend) == first
    assert datastore.read(backend) == first


def test_more_threads_than_connections_neither_wait_forever_nor_share_one(
    datastore: PostgresDatastore, name: str
) -> None:
    """Eight threads on a pool of two: each statement gets a connection of its own,
    and the server never sees more than two sessions."""
    lock = threading.Lock()
    in_use: set[int] = set()
    most = 0

    def statement(cursor: Cursor) -> None:
        nonlocal most
        pid = backend(cursor)
        with lock:
            assert pid not in in_use, "two threads on one connection"
            in_use.add(pid)
            most = max(most, len(in_use))
        time.sleep(0.001)  # hold it, so that other threads want it meanwhile
        with lock:
            in_use.discard(pid)

    def work(i: int) -> None:
        for _ in range(40):
            (datastore.read if i % 2 else datastore.write)(statement)

    assert in_threads(8, work) == []
    assert most == 2
    assert sessions(name) <= 2


def test_a_thread_that_waits_takes_a_connection_another_thread_keeps(
    datastore: PostgresDatastore,
) -> None:
    """Both connections are kept by threads that do nothing more for now: a third
    thread takes one of them rather than waiting for the pool."""
    kept = threading.Event()
    done = threading.Event()

    def keep(i: int) -> None:
        if i < 2:
            datastore.read(backend)
            if i == 1:
                kept.set()
            done.wait(timeout=30)
        else:
            assert kept.wait(timeout=30)
            datastore.read(backend)
            done.set()

    assert in_threads(3, keep) == []


def test_threads_that_ask_at_once_take_the_free_connection_and_a_kept_one(
    schema: str, name: str
) -> None:
    """The main thread keeps one of two connections; two threads then ask at the same
    moment, and each must get one: the pool's other, and the kept one. Once, both saw
    the pool not yet used up, and the second waited for the pool until it timed out."""
    store = open_datastore(schema, name, pool_size=2, POSTGRES_CONNECT_TIMEOUT="2")
    try:
        for _ in range(60):
            store.read(backend)  # the main thread now keeps a connection
            start = threading.Barrier(2)
            both = threading.Barrier(2)

            def hold(cursor: Cursor, both: threading.Barrier = both) -> None:
                both.wait(timeout=10)

            def ask(i: int, start: threading.Barrier = start) -> None:
                start.wait(timeout=10)
                store.read(hold)

            assert in_threads(2, ask) == []
    finally:
        store.close()


def test_a_kept_connection_the_server_closed_is_replaced(datastore: PostgresDatastore) -> None:
    first = datastore.read(backend)
    scalar("SELECT pg_terminate_backend(%s)", (first,))
    deadline = time.monotonic() + 10
    while scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = datastore.write(backend)
    assert second != first
    assert datastore.read(backend) == second


def terminate(pid: int) -> None:
    scalar("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_reads_and_saves_get_over_a_connection_closed_since_their_last_statement(
    datastore: PostgresDatastore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They skip the check of a connection used moments ago, and recover instead."""
    monkeypatch.setattr("retell.postgres.datastore.TRUSTED_SECONDS", 600.0)

    def asked(cursor: Cursor) -> int:  # a round trip, unlike `backend`
        row = cursor.execute("SELECT pg_catalog.pg_backend_pid()").fetchone()
        assert row is not None
        pid: int = row[0]
        return pid

    first = datastore.read(asked)
    terminate(first)
    second = datastore.read(asked)  # failed on the closed one, run again on another
    assert second != first
    terminate(second)
    third = datastore.write(asked, recover=lambda cursor: None)  # not recorded: run again
    assert third not in (first, second)
    terminate(third)
    assert datastore.write(asked) not in (first, second, third)  # checked first: no recovery


def test_a_thread_that_ends_gives_its_connection_back(schema: str, name: str) -> None:
    """On a pool of one, threads one after another use the one connection."""
    store = open_datastore(schema, name, pool_size=1)
    try:
        seen: list[int] = []
        for _ in range(3):
            assert in_threads(1, lambda i: seen.append(store.read(backend))) == []
        assert seen == [seen[0]] * 3
        assert store.read(backend) == seen[0]
    finally:
        store.close()


def test_close_closes_the_connections_threads_keep(schema: str, name: str) -> None:
    store = open_datastore(schema, name, pool_size=3)
    turns = [threading.Event() for _ in range(4)]
    closed = threading.Event()

    def keep(i: int) -> None:  # one after another: each takes a new connection
        assert turns[i].wait(timeout=30)
        store.read(backend)
        turns[i + 1].set()
        closed.wait(timeout=30)

    threads = threading.Thread(target=lambda: in_threads(3, keep))
    threads.start()
    turns[0].set()
    assert turns[3].wait(timeout=30)
    assert sessions(name) == 3
    store.close()
    closed.set()
    threads.join(timeout=30)
    deadline = time.monotonic() + 10
    while sessions(name):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(psycopg.Error):
        store.read(backend)


def test_threads_of_an_application_share_a_small_pool(schema: str) -> None:
    """Saves and gets from more threads than POSTGRES_POOL_SIZE, through the application."""

    class Pound(Kennel):
        name = unique_name("Pound")

    with Pound(env=postgres_env(schema, POSTGRES_POOL_SIZE="2")) as pound:

        def work(i: int) -> None:
            dog = Dog(f"dog{i}")
            pound.save(dog)
            for trick in range(10):
                dog = pound.repository.get(dog.id)
                dog.add_trick(f"trick{trick}")
                pound.save(dog)

        assert in_threads(6, work) == []
        assert len(pound.recorder.select_notifications(None, 100)) == 66


def test_a_forked_child_leaves_the_connection_its_parent_keeps_alone(
    datastore: PostgresDatastore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child forgets what the parent's thread kept, raising nothing on the way,
    and the parent's kept connection still works."""
    first = datastore.read(backend)
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    pid = os.fork()
    if pid == 0:  # the child: exit at once, whatever happens, without pytest's teardown
        code = 1
        try:
            code = 2 if unraisable else 3 if datastore.read(backend) == first else 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert datastore.read(backend) == first


def test_a_statement_inside_a_transaction_of_the_same_thread_loses_no_connection(
    datastore: PostgresDatastore,
) -> None:
    """A view reads in its own transaction: two connections at once in one thread, and
    both go back, so that two threads can then hold the pool's two at once."""
    for _ in range(3):
        with datastore.transaction() as cursor:
            outer = backend(cursor)
            assert datastore.read(backend) != outer
    both = threading.Barrier(2)

    def hold(cursor: Cursor) -> None:
        both.wait(timeout=10)

    assert in_threads(2, lambda i: datastore.read(hold)) == []


def test_a_write_whose_connection_is_lost_on_the_way_says_its_outcome_is_unknown(
    datastore: PostgresDatastore,
) -> None:
    def lost(cursor: Cursor) -> None:
        cursor.execute("SELECT pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid())")

    with pytest.raises(PersistenceError, match="may or may not") as caught:
        datastore.write(lost)
    assert caught.value.outcome_unknown
    with pytest.raises(PersistenceError) as other:
        datastore.write(lambda cursor: cursor.execute("SELECT 1/0"))
    assert not other.value.outcome_unknown  # refused by the server: certainly not recorded
