"""Fixtures shared by tests that run the same scenario on every built-in store."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES = ("127.0.0.1", 5432)


def postgres_reachable() -> bool:
    try:
        socket.create_connection(POSTGRES, timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The env of a fresh, empty store of each kind (PostgreSQL: a schema of the test's own)."""
    yield from _store_env(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The env of a fresh store that several processes can share."""
    yield from _store_env(request.param, tmp_path)


@pytest.fixture
def postgres_store_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The env of a fresh PostgreSQL store (a schema of the test's own)."""
    yield from _store_env("postgres", tmp_path)


def _store_env(kind: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Without PostgreSQL the postgres case is skipped, unless RETELL_REQUIRE_SERVICES
    is set: then it fails, so that CI cannot pass by skipping it."""
    if kind == "memory":
        yield {"PERSISTENCE_MODULE": "retell.memory"}
    elif kind == "sqlite":
        yield {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(tmp_path / "db")}
    else:
        if not postgres_reachable():
            if os.environ.get("RETELL_REQUIRE_SERVICES"):
                pytest.fail("PostgreSQL is required (RETELL_REQUIRE_SERVICES) but unreachable")
            pytest.skip("PostgreSQL is not on 127.0.0.1:5432")
        from tests.postgres.helpers import drop_schema, postgres_env

        schema = f"retell_test_{uuid.uuid4().hex[:12]}"
        try:
            yield postgres_env(schema)
        finally:
            drop_schema(schema)
