"""retell.django.testdb: threads' connections do not keep Django from dropping a
PostgreSQL test database, and SQLite's shared in-memory database waits for table locks.

``manage.py test`` of a whole project is in tests/django_project; these are the two
mechanisms on their own, without a subprocess.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.db import OperationalError, connections

from retell.django import testdb  # noqa: F401 (connected in AppConfig.ready() already)
from tests.django import services


def wrapper(alias: str, **settings: Any) -> Any:
    """A new Django connection like the alias's, with `settings` changed."""
    return type(connections[alias])({**connections.settings[alias], **settings}, alias)


def in_a_thread(function: Any) -> Any:
    """What `function` returns, called in a thread that has ended."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


@pytest.mark.postgres
def test_a_database_that_an_ended_threads_connection_is_on_can_be_dropped() -> None:
    services.require("postgres")
    name = f"test_retell_dropped_{uuid.uuid4().hex[:12]}"
    maker = wrapper("postgres")
    with maker.creation._nodb_cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def connect() -> Any:
        connection = wrapper("postgres", NAME=name)
        connection.ensure_connection()
        return connection

    try:
        left_open = in_a_thread(connect)  # as a runner's thread leaves its connection
        assert not left_open.connection.closed
        with maker.creation._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}"')  # refused without retell.django.testdb
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            assert cursor.fetchone() is None
    finally:
        with maker.creation._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sqlites_shared_in_memory_database_waits_for_a_table_lock() -> None:
    name = f"file:retell_locked_{uuid.uuid4().hex[:8]}?mode=memory&cache=shared"
    writer = wrapper("default", NAME=name)
    writer.inc_thread_sharing()
    with writer.cursor() as cursor:
        cursor.execute("CREATE TABLE dogs (name TEXT)")
    writer.set_autocommit(False)
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO dogs VALUES ('Fido')")  # its table is locked until commit

    def read() -> Any:
        reader = wrapper("default", NAME=name)
        try:
            with reader.cursor() as cursor:
                cursor.execute("SELECT name FROM dogs")
                return cursor.fetchall()
        finally:
            reader.close()

    committer = threading.Timer(0.2, writer.commit)
    committer.start()
    started = time.monotonic()
    try:
        assert in_a_thread(read) == [("Fido",)]
    finally:
        committer.join()
        writer.set_autocommit(True)
        writer.close()
    assert time.monotonic() - started >= 0.15  # it waited for the commit


def test_it_waits_no_longer_than_the_connections_timeout() -> None:
    name = f"file:retell_locked_{uuid.uuid4().hex[:8]}?mode=memory&cache=shared"
    writer = wrapper("default", NAME=name)
    with writer.cursor() as cursor:
        cursor.execute("CREATE TABLE dogs (name TEXT)")
    writer.set_autocommit(False)
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO dogs VALUES ('Fido')")
    reader = wrapper("default", NAME=name, OPTIONS={"timeout": 0.2})
    try:
        with pytest.raises(OperationalError, match="table is locked"), reader.cursor() as cursor:
            cursor.execute("SELECT name FROM dogs")
    finally:
        reader.close()
        writer.rollback()
        writer.set_autocommit(True)
        writer.close()
