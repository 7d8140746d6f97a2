"""Leases held as PostgreSQL session advisory locks, so they die with their holder.

A lease is a session-level advisory lock on a connection of its own: the lock lasts
exactly as long as that session, so when the holding process dies, or its connection
is cut, the server drops the lock and a standby's next `acquire` gets it. No timeout
to tune, nothing stale to clear.

The key is 64 bits of a SHA-256 of the lease's name and the database's schema: the
chance that two names share a key is negligible. The one-key form of the advisory
lock functions is used, which PostgreSQL keeps apart from the two-key locks of the
in-flight registry (`retell.postgres.schema`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import psycopg

from retell.persistence.leases import Lease


def lease_key(schema: str, name: str) -> int:
    """The signed 64-bit advisory lock key of lease `name` in `schema`."""
    digest = hashlib.sha256(f"retell-lease\x00{schema}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLease(Lease):
    """A lease that is held while this object's connection holds its advisory lock."""

    def __init__(
        self, name: str, schema: str, connect: Callable[[], psycopg.Connection[Any]]
    ) -> None:
        super().__init__(name)
        self._key = lease_key(schema, name)
        self._connect = connect
        self._connection: psycopg.Connection[Any] | None = None

    @property
    def key(self) -> int:
        """The advisory lock's key: ``pg_locks`` shows it as (classid << 32 | objid)."""
        return self._key

    def acquire(self) -> bool:
        if self._connection is not None and self.is_held():
            return True
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT pg_catalog.pg_try_advisory_lock(%s)", (self._key,)
            ).fetchone()
        except BaseException:
            connection.close()
            raise
        if row is not None and row[0]:
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        """Close the lease's session, which releases its lock."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def is_held(self) -> bool:
        """Whether the session holding the lock is still alive (one round trip)."""
        connection = self._connection
        if connection is None or connection.closed:
            return False
        try:
            connection.execute("SELECT 1")
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                connection.close()
            self._connection = None
            return False
        return True
