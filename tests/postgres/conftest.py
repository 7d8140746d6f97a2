"""Fixtures for the PostgreSQL store's tests: a server to run on, a schema per test.

The tests need PostgreSQL on 127.0.0.1:5432 (user ``postgres``, no password, database
``test``). Without it they are skipped, unless RETELL_REQUIRE_SERVICES is set: then
they fail, so that a CI run cannot pass by skipping them. Every test works in a
schema of its own (``retell_test_<random>``), dropped after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from .helpers import ADMIN_CONNINFO, HOST, PORT, drop_schema, server_accepts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here `postgres`; skip them all (or fail them) without a server."""
    here = os.path.dirname(__file__)
    mine = [item for item in items if str(item.path).startswith(here)]
    if not mine:
        return
    reachable = server_accepts()
    for item in mine:
        item.add_marker(pytest.mark.postgres)
        if not reachable and not os.environ.get("RETELL_REQUIRE_SERVICES"):
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL is not on {HOST}:{PORT}"))


@pytest.fixture(scope="session")
def server() -> None:
    """Fails the test (with RETELL_REQUIRE_SERVICES) when the server is not there."""
    if not server_accepts():
        pytest.fail(f"PostgreSQL is required (RETELL_REQUIRE_SERVICES) but not on {HOST}:{PORT}")


@pytest.fixture
def schema(server: None) -> Iterator[str]:
    """A schema name of the test's own; the schema (made by retell) is dropped afterwards."""
    name = f"retell_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        drop_schema(name)


@pytest.fixture
def admin(server: None) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection of the test's own, in autocommit mode, to inspect or disturb the server."""
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
        yield connection
