"""retell.postgres.libpq: statements sent straight through libpq, on a real server."""

from __future__ import annotations

import gc
import sys
import time
import types
import weakref
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import errors

from retell.persistence.records import StoredEvent
from retell.postgres import libpq
from retell.postgres.libpq import Statement, Statements, statements

from .helpers import ADMIN_CONNINFO, make_factory, on_other_thread


@pytest.fixture
def connection(server: None) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
        connection.execute(
            "CREATE TEMPORARY TABLE t (id uuid PRIMARY KEY, n bigint, s text, b bytea)"
        )
        yield connection


class OnThread:
    """`Statements.execute`, called from a thread other than the main one."""

    def __init__(self, run: Statements) -> None:
        self._run = run

    def execute(self, *args: Any) -> list[tuple[Any, ...]] | None:
        return on_other_thread(lambda: self._run.execute(*args))


On = Callable[[Statements], Any]


@pytest.fixture(params=["main thread", "other thread"])
def on(request: pytest.FixtureRequest) -> On:
    """Where a test's statements run: each way of waiting for the server is tested."""
    if request.param == "main thread":
        return lambda run: run
    return OnThread


INSERT = Statement("INSERT INTO t VALUES (%(id)s, %(n)s, %(s)s, %(b)b) RETURNING n, s")
SELECT = Statement("SELECT id, n, s, b FROM t WHERE id = %s")


def test_placeholders_become_numbered_parameters() -> None:
    named = Statement("SELECT %(a)s, %(b)b, %(a)s, 5 %% 2")
    assert named.text == b"SELECT $1, $2, $1, 5 % 2"
    assert named.names == ("a", "b")
    positional = Statement("SELECT %s, %b")
    assert positional.text == b"SELECT $1, $2"
    assert positional.names is None
    assert Statement("SELECT %s").name == Statement("SELECT %s").name != named.name
    with pytest.raises(ValueError, match="mixes named and positional"):
        Statement("SELECT %(a)s, %s")


def test_values_of_every_encoded_type_go_and_come_back(
    connection: psycopg.Connection[Any], on: On
) -> None:
    run = on(statements(connection))
    key = uuid4()
    assert run.execute(INSERT, {"id": key, "n": -(2**40), "s": "é ünïcode", "b": b"\x00\xff"}) == [
        (-(2**40), "é ünïcode")
    ]
    run.execute(INSERT, {"id": uuid4(), "n": None, "s": None, "b": None})
    assert run.execute(SELECT, [key]) == [(key, -(2**40), "é ünïcode", b"\x00\xff")]
    assert run.execute(SELECT, [uuid4()]) == []
    nulls = run.execute(Statement("SELECT n, s, b FROM t WHERE n IS NULL"))
    assert nulls == [(None, None, None)]
    other = run.execute(Statement("SELECT 1.5::numeric, now() > '2000-01-01', ARRAY[1, 2]"))
    assert other == [(Decimal("1.5"), True, [1, 2])]  # psycopg's loaders, any type
    big = bytes(range(256)) * 40_000  # 10 MB: more than a socket's buffer takes at once
    assert run.execute(INSERT, {"id": uuid4(), "n": 2, "s": "big", "b": big}) == [(2, "big")]
    assert run.execute(Statement("SELECT b FROM t WHERE n = 2")) == [(big,)]
    assert statements(connection) is statements(connection)  # one per connection


class Id(UUID):
    """A UUID of another type: not one libpq.py encodes."""


def test_an_unknown_type_or_a_transaction_to_begin_is_left_to_a_cursor(
    connection: psycopg.Connection[Any],
) -> None:
    run = statements(connection)
    assert run.execute(SELECT, [Id(int=1)]) is None
    assert run.execute(SELECT, [True]) is None
    assert run.execute(SELECT, [1.5]) is None
    connection.autocommit = False
    assert run.execute(SELECT, [uuid4()]) is None  # psycopg must send BEGIN first
    connection.execute("SELECT 1")  # now in a transaction: joined
    key = uuid4()
    assert run.execute(INSERT, {"id": key, "n": 1, "s": "x", "b": b"y"}) == [(1, "x")]
    connection.rollback()
    connection.autocommit = True
    assert run.execute(SELECT, [key]) == []  # rolled back with the transaction


def test_errors_are_psycopgs_own(connection: psycopg.Connection[Any], on: On) -> None:
    run = on(statements(connection))
    key = uuid4()
    run.execute(INSERT, {"id": key, "n": 1, "s": "x", "b": b"y"})
    with pytest.raises(errors.UniqueViolation, match="duplicate key"):
        run.execute(INSERT, {"id": key, "n": 2, "s": "x", "b": b"y"})
    with pytest.raises(errors.UndefinedTable):
        run.execute(Statement("SELECT * FROM no_such_table WHERE x = %s"), [1])
    assert run.execute(SELECT, [key]) == [(key, 1, "x", b"y")]  # still usable


def test_a_statement_discarded_on_the_server_is_prepared_again(
    connection: psycopg.Connection[Any],
    on: On,
) -> None:
    run = on(statements(connection))
    key = uuid4()
    run.execute(INSERT, {"id": key, "n": 1, "s": "x", "b": b"y"})
    connection.execute("DEALLOCATE ALL")
    assert run.execute(SELECT, [key]) == [(key, 1, "x", b"y")]  # autocommit: run again
    connection.execute("DEALLOCATE ALL")
    connection.autocommit = False
    connection.execute("SELECT 1")
    with pytest.raises(errors.InvalidSqlStatementName):
        run.execute(SELECT, [key])  # in a transaction, now aborted: the caller's to handle
    connection.rollback()
    connection.autocommit = True
    assert run.execute(SELECT, [key]) == [(key, 1, "x", b"y")]


def test_a_closed_connection_fails_as_with_a_cursor(
    connection: psycopg.Connection[Any], on: On
) -> None:
    run = on(Statements(connection))
    connection.close()
    with pytest.raises(psycopg.OperationalError):
        run.execute(SELECT, [uuid4()])


def test_a_connection_the_server_ended_fails_and_is_broken(
    connection: psycopg.Connection[Any],
    on: On,
) -> None:
    run = on(statements(connection))
    assert run.execute(SELECT, [uuid4()]) == []
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        run.execute(SELECT, [uuid4()])
    assert connection.broken  # what the datastore checks before it recovers


def test_rows_are_loaded_by_the_types_the_statement_now_returns(
    connection: psycopg.Connection[Any], on: On, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement keeps its loaders; prepared again (after a change of the table,
    say), it looks them up again."""
    monkeypatch.setattr(libpq, "REPREPARE_FIRST_SECONDS", 0.0)
    run = on(statements(connection))
    query = Statement("SELECT n FROM t")
    connection.execute("INSERT INTO t VALUES (%s, 7, 's', 'b')", (uuid4(),))
    assert run.execute(query) == [(7,)]
    assert run.execute(SELECT, [uuid4()]) == []  # another statement, other loaders
    assert run.execute(query) == [(7,)]
    connection.execute("ALTER TABLE t ALTER COLUMN n TYPE text")
    assert run.execute(query) == [("7",)]


def test_the_store_reads_ids_of_other_uuid_types_through_a_cursor(schema: str) -> None:
    factory = make_factory(schema)
    recorder = factory.application_recorder()
    try:
        plain = uuid4()
        other = Id(int=plain.int)
        recorder.insert_events([StoredEvent(plain, 1, "t", b"a"), StoredEvent(plain, 2, "t", b"b")])
        assert recorder.insert_events([StoredEvent(other, 3, "t", b"c")]) == [3]
        assert recorder.select_events(other) == recorder.select_events(plain)
        assert [(e.originator_version, e.state) for e in recorder.select_events(other)] == [
            (1, b"a"),
            (2, b"b"),
            (3, b"c"),
        ]
    finally:
        factory.close()


def test_a_statement_is_planned_again_for_the_table_as_it_has_grown(
    connection: psycopg.Connection[Any],
) -> None:
    """A plan made for a small table is not kept for ever (the temporary table has no
    autovacuum, so only preparing again can change it)."""
    connection.execute("SET plan_cache_mode = force_generic_plan")  # as after a few runs
    connection.execute("INSERT INTO t SELECT gen_random_uuid(), g FROM generate_series(1, 5) g")
    connection.execute("ANALYZE t")
    run = statements(connection)
    lookup = Statement("SELECT n FROM t WHERE id = %s")

    def plan() -> str:
        name = lookup.name.decode()
        rows = connection.execute(f"EXPLAIN EXECUTE {name}('{uuid4()}')").fetchall()
        return "\n".join(row[0] for row in rows)

    assert run.execute(lookup, [uuid4()]) == []
    assert "Seq Scan" in plan()
    connection.execute("INSERT INTO t SELECT gen_random_uuid(), g FROM generate_series(6, 50000) g")
    assert run.execute(lookup, [uuid4()]) == []
    assert "Seq Scan" in plan()  # the plan of the small table, however large it is now
    time.sleep(libpq.REPREPARE_FIRST_SECONDS)
    assert run.execute(lookup, [uuid4()]) == []
    assert "Index" in plan() and "Seq Scan" not in plan()


def test_a_connection_and_its_statements_are_freed_together(server: None) -> None:
    connection = psycopg.connect(ADMIN_CONNINFO, autocommit=True)
    assert statements(connection).execute(Statement("SELECT 1")) == [(1,)]
    gone = weakref.ref(connection)
    connection.close()
    del connection
    gc.collect()
    assert gone() is None


def test_other_threads_wait_as_psycopg_does_once_gevent_has_patched_select(
    connection: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blocking call would stop every greenlet of gevent's thread: psycopg's wait yields."""
    run = statements(connection)
    run.execute(SELECT, [uuid4()])  # prepared: what follows is the statement alone
    waits: list[object] = []
    wait = psycopg.Connection.wait

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        waits.append(args)
        return wait(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "wait", counted)
    assert on_other_thread(lambda: run.execute(SELECT, [uuid4()])) == []
    assert waits == []  # one blocking call
    gevent_monkey = types.ModuleType("gevent.monkey")
    gevent_monkey.is_module_patched = lambda name: name == "select"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gevent.monkey", gevent_monkey)
    assert on_other_thread(lambda: run.execute(SELECT, [uuid4()])) == []
    assert len(waits) == 1
    assert run.execute(SELECT, [uuid4()]) == []  # the main thread: psycopg's wait, always
    assert len(waits) == 2
