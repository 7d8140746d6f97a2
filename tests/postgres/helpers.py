"""What the PostgreSQL tests share: where the server is, and how to make a store on it."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from retell import Aggregate, Application, event
from retell.config import Environment
from retell.postgres import Factory

T = TypeVar("T")

HOST = "127.0.0.1"
PORT = 5432
DBNAME = "test"
USER = "postgres"
ADMIN_CONNINFO = f"host={HOST} port={PORT} dbname={DBNAME} user={USER}"


def postgres_env(schema: str, **more: str) -> dict[str, str]:
    """The env of an application whose tables live in `schema`."""
    return {
        "PERSISTENCE_MODULE": "retell.postgres",
        "POSTGRES_HOST": HOST,
        "POSTGRES_PORT": str(PORT),
        "POSTGRES_DBNAME": DBNAME,
        "POSTGRES_USER": USER,
        "POSTGRES_SCHEMA": schema,
        **more,
    }


def make_factory(schema: str, name: str = "Tests", **more: str) -> Factory:
    return Factory(Environment(name, postgres_env(schema, **more)))


def drop_schema(name: str) -> None:
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def scalar(query: str | sql.SQL | sql.Composed, params: Any = None) -> Any:
    """The first column of the first row of a query run on a connection of its own."""
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
        row = connection.execute(query, params).fetchone()
    return None if row is None else row[0]


def server_accepts() -> bool:
    """Whether something listens on the server's port."""
    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
    except OSError:
        return False
    return True


class Dog(Aggregate):
    """The aggregate the tests save."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class Kennel(Application):
    """An application of Dogs."""


def unique_name(prefix: str) -> str:
    """An application name no other test run uses: the tests that end sessions pick
    theirs by name (``application_name`` is ``retell <name>``), and other work may
    share the server."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def on_other_thread(action: Callable[[], T]) -> T:
    """What `action` returns (or raises) run on a thread other than the main one: there
    the store sends each statement as one blocking libpq call, not with psycopg's wait."""

    def call() -> T:
        assert threading.current_thread() is not threading.main_thread()
        return action()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()
