"""On PostgreSQL, the statements every command runs are prepared and bound on the server,
on Django's own connection: in its transactions, under its checks, seen when it watches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from retell.django import tables
from retell.django.dialects.postgresql import PostgresDialect
from retell.django.recorders import DjangoApplicationRecorder
from retell.errors import OperationalError
from retell.testing.recorders import stored
from tests.django import services

pytestmark = pytest.mark.postgres

ALIAS = "postgres"


@pytest.fixture
def recorder() -> DjangoApplicationRecorder:
    services.prepare(ALIAS)
    return DjangoApplicationRecorder(ALIAS, f"P{uuid4().hex[:12]}")


def prepared_statements() -> list[str]:
    """The statements prepared on this thread's connection for the alias."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def retells(statements: list[str]) -> list[str]:
    """A save's insert and a read's select among `statements`."""
    starts = (f"INSERT INTO {tables.EVENTS}", "SELECT originator_version")
    return [s for s in statements if s.startswith(starts)]


def test_a_save_and_a_read_are_prepared_and_djangos_statements_are_not(
    recorder: DjangoApplicationRecorder,
) -> None:
    aggregate = uuid4()
    recorder.insert_events([stored(aggregate, 1)])
    recorder.insert_events([stored(aggregate, 2), stored(aggregate, 3)])
    assert [e.originator_version for e in recorder.select_events(aggregate)] == [1, 2, 3]
    for _ in range(3):
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {tables.TRACKING} WHERE application_name = %s", ("x",)
            )
    statements = retells(prepared_statements())
    assert any("VALUES" in s for s in statements)  # one event
    # Several events: arrays, which libpq.py does not encode, so psycopg runs it, unprepared
    # (a rollback after psycopg prepared would drop libpq's statements too).
    assert not any("unnest" in s for s in statements)
    assert any(s.startswith("SELECT") for s in statements)
    assert not any(tables.TRACKING in s for s in prepared_statements())


def test_a_save_in_the_callers_block_is_undone_with_it(
    recorder: DjangoApplicationRecorder,
) -> None:
    aggregate = uuid4()
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=ALIAS):
        recorder.insert_events([stored(aggregate, 1)])
        assert len(recorder.select_events(aggregate)) == 1  # seen inside the block
        raise ZeroDivisionError
    assert recorder.select_events(aggregate) == []


def test_a_read_that_opens_the_callers_block_begins_its_transaction(
    recorder: DjangoApplicationRecorder,
) -> None:
    """The first statement of an ``atomic()`` must send BEGIN: psycopg's cursor does."""
    aggregate = uuid4()
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=ALIAS):
        assert recorder.select_events(aggregate) == []
        raw = connections[ALIAS].connection
        assert raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        recorder.insert_events([stored(aggregate, 1)])
        raise ZeroDivisionError
    assert recorder.select_events(aggregate) == []


@pytest.mark.parametrize(
    "watch",
    [
        lambda connection, seen: CaptureQueriesContext(connection),
        lambda connection, seen: connection.execute_wrapper(
            lambda execute, sql, *args: seen.append(sql) or execute(sql, *args)
        ),
    ],
    ids=["CaptureQueriesContext", "execute_wrapper"],
)
def test_django_sees_the_statements_while_it_watches(
    recorder: DjangoApplicationRecorder, watch: Callable[[Any, list[str]], Any]
) -> None:
    connection = connections[ALIAS]
    seen: list[str] = []
    aggregate = uuid4()
    with watch(connection, seen) as captured:
        recorder.insert_events([stored(aggregate, 1)])
        recorder.select_events(aggregate)
    if captured is not None:
        seen = [query["sql"] for query in captured.captured_queries]
    assert len(retells(seen)) == 2


def test_a_lost_connection_is_an_error_and_the_next_call_reconnects(
    recorder: DjangoApplicationRecorder,
) -> None:
    aggregate = uuid4()
    recorder.insert_events([stored(aggregate, 1)])
    connection = connections[ALIAS]
    pid = connection.connection.info.backend_pid
    admin = connection.copy()  # a session of its own, to end ours
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        admin.close()
    with pytest.raises(OperationalError):
        recorder.select_events(aggregate)
    assert connection.errors_occurred
    assert [e.originator_version for e in recorder.select_events(aggregate)] == [1]
    assert connection.connection.info.backend_pid != pid


def test_no_statement_is_prepared_where_the_database_options_say_none() -> None:
    services.prepare(ALIAS)
    connection = connections[ALIAS]
    settings = {**connection.settings_dict}
    settings["OPTIONS"] = {**settings["OPTIONS"], "prepare_threshold": None}
    unprepared = connection.__class__(settings, alias=ALIAS)
    try:
        assert PostgresDialect(unprepared).prepared_cursor(unprepared) is None
        with PostgresDialect(connection).prepared_cursor(connection) as cursor:
            assert cursor is not None
    finally:
        unprepared.close()
