"""Failures are errors that say what happened and what to do, never hangs or half-saves."""

from __future__ import annotations

import threading
import time
from functools import partial
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from retell import Application
from retell.config import Environment
from retell.errors import (
    ConcurrencyError,
    ConfigurationError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    TranscodingError,
)
from retell.persistence.records import StoredEvent, Tracking
from retell.postgres import Factory, NotificationLog, protocol

from .helpers import (
    ADMIN_CONNINFO,
    Dog,
    Kennel,
    make_factory,
    on_other_thread,
    postgres_env,
    scalar,
    unique_name,
)


def test_an_unreachable_server_fails_within_the_connect_timeout(schema: str) -> None:
    env = postgres_env(schema, POSTGRES_PORT="1", POSTGRES_CONNECT_TIMEOUT="2")
    started = time.monotonic()
    with pytest.raises(OperationalError, match=r"127\.0\.0\.1:1\b") as caught:
        Kennel(env=env)
    assert time.monotonic() - started < 2 + 1
    assert "POSTGRES_PORT" in str(caught.value)


def test_a_host_name_that_does_not_resolve_is_named(schema: str) -> None:
    env = postgres_env(schema, POSTGRES_HOST="no-such-host.invalid")
    with pytest.raises(OperationalError, match="could not be resolved") as caught:
        Kennel(env=env)
    message = str(caught.value)
    assert "'no-such-host.invalid'" in message and "check POSTGRES_HOST" in message
    assert "lost" not in message


def test_the_response_timeout_is_a_few_seconds_above_the_statement_timeout(
    schema: str,
) -> None:
    """By default a statement may run its full statement timeout, and its answer travel,
    before the client gives up on the server; with no statement timeout, so does it."""
    settings = make_factory(schema).settings
    assert settings.response_timeout == settings.statement_timeout + 5 == 65
    unbounded = make_factory(schema, POSTGRES_STATEMENT_TIMEOUT="0").settings
    assert unbounded.response_timeout == 0
    kwargs = settings.connect_kwargs()
    assert kwargs["keepalives"] == 1 and kwargs["tcp_user_timeout"] > 0
    assert kwargs["connect_timeout"] == 5


def test_a_login_the_server_refuses_names_user_and_keys(schema: str) -> None:
    env = postgres_env(schema, POSTGRES_USER="no_such_role_here")
    with pytest.raises(OperationalError, match="no_such_role_here") as caught:
        Kennel(env=env)
    assert "POSTGRES_USER" in str(caught.value) and "POSTGRES_PASSWORD" in str(caught.value)


def test_a_database_that_does_not_exist_is_named(schema: str) -> None:
    env = postgres_env(schema, KENNEL_POSTGRES_DBNAME="no_such_database")
    with pytest.raises(OperationalError, match="'no_such_database' does not exist") as caught:
        Kennel(env=env)
    assert "KENNEL_POSTGRES_DBNAME" in str(caught.value)  # the key as the user set it


def test_a_missing_schema_with_create_table_off_is_named(schema: str) -> None:
    with pytest.raises(ProgrammingError, match=f"schema '{schema}' does not exist") as caught:
        Kennel(env=postgres_env(schema, CREATE_TABLE="n"))
    assert "CREATE_TABLE" in str(caught.value)


def test_missing_tables_with_create_table_off_are_named(schema: str) -> None:
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    with pytest.raises(ProgrammingError, match=r'"kennel_events"') as caught:
        Kennel(env=postgres_env(schema, CREATE_TABLE="n"))
    assert "CREATE_TABLE=y" in str(caught.value)
    Kennel(env=postgres_env(schema)).close()  # made with the default, CREATE_TABLE=y
    Kennel(env=postgres_env(schema, CREATE_TABLE="n")).close()  # now they are there


def test_tables_dropped_under_a_running_application(schema: str) -> None:
    with Kennel(env=postgres_env(schema)) as kennel:
        kennel.save(Dog("Rex"))
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        with pytest.raises(ProgrammingError, match="CREATE_TABLE=y"):
            kennel.save(Dog("Fido"))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"POSTGRES_DBNAME": ""}, "needs POSTGRES_DBNAME"),
        ({"POSTGRES_PORT": "http"}, "POSTGRES_PORT='http' is not a whole number"),
        ({"POSTGRES_PORT": "70000"}, "is not a TCP port"),
        ({"POSTGRES_POOL_SIZE": "0"}, "POSTGRES_POOL_SIZE=0 is too small"),
        ({"POSTGRES_LOCK_TIMEOUT": "soon"}, "POSTGRES_LOCK_TIMEOUT='soon' is not a number"),
        # libpq waits whole seconds, and at least 2: 1 would be reported as 1 and be 2.
        ({"POSTGRES_CONNECT_TIMEOUT": "1"}, r"POSTGRES_CONNECT_TIMEOUT=1 cannot be .*least 2"),
        ({"POSTGRES_CONNECT_TIMEOUT": "2.5"}, r"=2\.5 cannot be honoured: .*whole seconds"),
        ({"POSTGRES_RESPONSE_TIMEOUT": "30"}, r"more than POSTGRES_STATEMENT_TIMEOUT=60\.0"),
        (
            {"POSTGRES_RESPONSE_TIMEOUT": "2", "POSTGRES_STATEMENT_TIMEOUT": "2"},
            "POSTGRES_RESPONSE_TIMEOUT=2.0 must be more than",
        ),
        ({"CREATE_TABLE": "perhaps"}, "CREATE_TABLE='perhaps' is not a yes/no value"),
        ({"POSTGRES_SCHEMA": "s" * 64}, "1 to 63 bytes"),
    ],
)
def test_settings_are_checked_when_the_application_is_made(
    schema: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Kennel(env=postgres_env(schema, **env))


def test_an_application_name_too_long_for_a_table_name(schema: str) -> None:
    class KennelWithAVeryLongNameThatPostgresWouldTruncateSilently(Application):
        pass

    with pytest.raises(ConfigurationError, match="cannot name PostgreSQL tables"):
        KennelWithAVeryLongNameThatPostgresWouldTruncateSilently(env=postgres_env(schema))


def test_hostile_names_are_quoted_not_executed(schema: str) -> None:
    hostile_schema = schema + '"; DROP TABLE pg_class; -- 50%s'
    name = "x'); DROP SCHEMA public CASCADE; --\"y %(n)s {}"
    factory = Factory(Environment(name, postgres_env(hostile_schema)))
    try:
        recorder = factory.process_recorder()
        a = uuid4()
        ids = recorder.insert_events(
            [StoredEvent(a, 1, "t:T", b"s")], tracking=Tracking("Leader; --", 1)
        )
        assert [n.id for n in recorder.select_notifications(None, 10)] == list(ids)
        assert recorder.max_tracking_id("Leader; --") == 1
        assert recorder.max_notification_id() == ids[0]
        assert len(recorder.select_events(a)) == 1
        tables = scalar(
            "SELECT array_agg(relname::text ORDER BY relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND relkind IN ('r', 'S')",
            (hostile_schema,),
        )
        prefix = name.lower()
        assert tables == sorted(
            [
                f"{prefix}_events",
                f"{prefix}_notification_ids",
                f"{prefix}_tracking",
                "retell_schema_versions",
            ]
        )
        assert scalar("SELECT to_regnamespace('public') IS NOT NULL")
    finally:
        factory.close()
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(hostile_schema))
            )


def test_a_taken_version_names_the_aggregate_and_version(schema: str) -> None:
    with Kennel(env=postgres_env(schema)) as kennel:
        rex = Dog("Rex")
        kennel.save(rex)
        with pytest.raises(ConcurrencyError, match=rf"{rex.id} already has a version 1"):
            kennel.recorder.insert_events(kennel.recorder.select_events(rex.id))


def test_a_position_processed_already_is_refused_with_nothing_saved(schema: str) -> None:
    factory = make_factory(schema)
    recorder = factory.process_recorder()
    try:
        recorder.insert_tracking(Tracking("Leader", 5))
        with pytest.raises(IntegrityError, match="processed already"):
            recorder.insert_events(
                [StoredEvent(uuid4(), 1, "t:T", b"s")], tracking=Tracking("Leader", 5)
            )
        assert recorder.select_notifications(None, 10) == []
    finally:
        factory.close()


def test_corrupted_record_bytes_are_a_clear_error(schema: str) -> None:
    with Kennel(env=postgres_env(schema)) as kennel:
        rex = Dog("Rex")
        kennel.save(rex)
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
            admin.execute(
                sql.SQL("UPDATE {} SET state = '\\x00ff'").format(
                    sql.Identifier(schema, "kennel_events")
                )
            )
        with pytest.raises(TranscodingError, match=r"Dog\.Registered"):
            kennel.repository.get(rex.id)


@pytest.mark.parametrize("thread", ["main", "other"])
def test_a_statement_that_runs_too_long_is_cancelled(schema: str, thread: str) -> None:
    factory = make_factory(schema, POSTGRES_STATEMENT_TIMEOUT="0.3", POSTGRES_LOCK_TIMEOUT="0")
    recorder = factory.application_recorder()
    table = sql.Identifier(schema, "tests_events")
    read = partial(recorder.select_events, uuid4())
    try:
        with psycopg.connect(ADMIN_CONNINFO) as locker:
            locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
            with pytest.raises(OperationalError, match=r"POSTGRES_STATEMENT_TIMEOUT=0\.3"):
                read() if thread == "main" else on_other_thread(read)
    finally:
        factory.close()


@pytest.mark.parametrize("call", ["read", "write"])
@pytest.mark.parametrize("thread", ["main", "other"])
def test_a_statement_not_answered_in_time_ends_with_its_connection(
    schema: str, thread: str, call: str
) -> None:
    """With no server-side timeout, a statement waiting for a lock stands in for a
    server that does not answer: the client gives up after POSTGRES_RESPONSE_TIMEOUT,
    on the main thread (psycopg's wait) and off it (a blocking libpq call)."""
    factory = make_factory(
        schema,
        POSTGRES_STATEMENT_TIMEOUT="0",
        POSTGRES_LOCK_TIMEOUT="0",
        POSTGRES_RESPONSE_TIMEOUT="0.5",
    )
    recorder = factory.application_recorder()
    table = sql.Identifier(schema, "tests_events")
    if call == "read":
        action = partial(recorder.select_events, uuid4())
    else:
        action = partial(recorder.insert_events, [StoredEvent(uuid4(), 1, "t:T", b"{}")])
    try:
        with psycopg.connect(ADMIN_CONNINFO) as locker:
            locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
            started = time.monotonic()
            with pytest.raises(OperationalError, match="did not answer within") as caught:
                action() if thread == "main" else on_other_thread(action)
            assert 0.5 <= time.monotonic() - started < 2
            assert "POSTGRES_RESPONSE_TIMEOUT=0.5" in str(caught.value)
            assert caught.value.outcome_unknown == (call == "write")
        assert recorder.select_events(uuid4()) == []  # the next call takes another connection
    finally:
        factory.close()


@pytest.mark.parametrize("thread", ["main", "other"])
def test_connections_closed_by_the_server_are_replaced(schema: str, thread: str) -> None:
    """What a restart does to idle pooled connections, without restarting: the next
    calls take live ones, reads and writes alike."""

    class Pound(Kennel):
        name = unique_name("Pound")

    with Pound(env=postgres_env(schema, POSTGRES_POOL_SIZE="3")) as pound:
        dogs = [Dog(f"dog{i}") for i in range(3)]
        for dog in dogs:
            pound.save(dog)
        killed = scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (f"retell {Pound.name}",),
        )
        assert killed >= 1
        time.sleep(0.1)
        rex = Dog("Rex")

        def save_and_get() -> str:
            pound.save(rex)
            return pound.repository.get(rex.id).name

        assert (save_and_get() if thread == "main" else on_other_thread(save_and_get)) == "Rex"
        assert [n.originator_id for n in pound.recorder.select_notifications(None, 10)] == [
            *(d.id for d in dogs),
            rex.id,
        ]


def test_a_save_whose_connection_was_lost_is_settled_not_guessed(schema: str) -> None:
    """The connection of a save is cut while the save waits: once its session is gone,
    the store looks whether it was recorded (it was not) and runs it again."""
    name = unique_name("Settle")
    factory = make_factory(schema, name, POSTGRES_LOCK_TIMEOUT="20")
    recorder = factory.application_recorder()
    aggregate = uuid4()
    batch = [StoredEvent(aggregate, 1, "t:T", b"mine")]
    outcome: dict[str, object] = {}

    def save() -> None:
        try:
            outcome["ids"] = recorder.insert_events(batch)
        except Exception as error:
            outcome["error"] = error

    waiting = sql.SQL(
        "SELECT pid FROM pg_stat_activity WHERE application_name = {} AND wait_event_type = 'Lock'"
    ).format(sql.Literal(f"retell {name}"))
    try:
        with psycopg.connect(ADMIN_CONNINFO) as blocker:
            with blocker.cursor() as cursor:  # the same version, in a transaction left open
                protocol.insert_notifications(cursor, NotificationLog(factory.tables), batch)
            saver = threading.Thread(target=save)
            saver.start()
            deadline = time.monotonic() + 10
            while (pid := scalar(waiting)) is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            scalar("SELECT pg_terminate_backend(%s)", (pid,))
            while scalar(waiting) in (None, pid):  # run again, and waiting again
                assert time.monotonic() < deadline and saver.is_alive(), outcome
                time.sleep(0.01)
            blocker.rollback()
        saver.join(timeout=10)
        assert "error" not in outcome, outcome
        assert [n.id for n in recorder.select_notifications(None, 10)] == outcome["ids"]
        assert [e.state for e in recorder.select_events(aggregate)] == [b"mine"]
    finally:
        factory.close()


def test_a_recorded_save_is_recognised(schema: str) -> None:
    factory = make_factory(schema)
    recorder = factory.process_recorder()
    log = NotificationLog(factory.tables, tracking=factory.tables.tracking)
    a = uuid4()
    batch = [StoredEvent(a, 1, "t:T", b"one"), StoredEvent(a, 2, "t:T", b"two")]
    try:
        ids = list(recorder.insert_events(batch, tracking=Tracking("Leader", 3)))
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
            cursor = connection.cursor()
            assert protocol.recorded_notifications(cursor, log, batch) == ids
            other = [StoredEvent(a, 1, "t:T", b"one"), StoredEvent(a, 2, "t:T", b"TWO")]
            assert protocol.recorded_notifications(cursor, log, other) is None
            assert (
                protocol.recorded_notifications(cursor, log, [StoredEvent(uuid4(), 1, "t", b"")])
                is None
            )
            assert protocol.recorded_notifications(cursor, log, [], Tracking("Leader", 3)) == []
            assert protocol.recorded_notifications(cursor, log, [], Tracking("Leader", 4)) is None
    finally:
        factory.close()
