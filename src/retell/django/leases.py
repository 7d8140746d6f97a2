"""Leases on the Django store: one worker at a time per follower or projection.

A lease must die with the process that holds it, however that process dies, so
that a standby takes over without a timeout to tune or a stale lock to clear. So
each database's lease is a lock that belongs to something the operating system or
the server cleans up:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``), and MySQL/MariaDB:
  a named lock (``GET_LOCK(name, 0)``), each on a connection of the lease's own.
  Not Django's connection for the alias: that one is shared by everything the
  thread does, is closed by Django between requests, and may come from a pool, any
  of which would end or leak the lock. The server drops the lock when the lease's
  session ends, so a killed worker's lease is free as soon as its connection is.
- SQLite: an exclusive ``flock`` on a file beside the database
  (`retell.persistence.leases.FileLease`), released by the kernel; an in-memory
  database lives in one process, so there a lease is exclusive among its threads.

`is_held()` asks the lease's connection (one round trip), so a worker notices a
lost connection (a server restart, a killed session) and stands by.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from django import db
from django.db import connections
from django.db.backends.sqlite3.creation import DatabaseCreation

from retell.django.errors import translate
from retell.persistence.leases import FileLease, Lease, ProcessLocalLease

MYSQL_LOCK_NAME_LENGTH = 64
"""MySQL and MariaDB refuse longer lock names; longer ones are hashed."""


class ConnectionLease(Lease):
    """A lock held by a database session of the lease's own, for as long as it lives.

    Subclasses give the statements: `acquire_sql` returns one row whose first value
    is 1 (or true) when the lock was taken; `held_sql` one whose first value says
    whether this session still holds it.
    """

    acquire_sql: str = ""
    held_sql: str = ""

    def __init__(self, name: str, alias: str) -> None:
        super().__init__(name)
        self.alias = alias
        self._connection: Any = None

    def lock_params(self) -> tuple[Any, ...]:
        """The parameters of `acquire_sql` and `held_sql`."""
        return (self.name,)

    def acquire(self) -> bool:
        if self._connection is not None and self.is_held():
            return True
        connection = dedicated_connection(self.alias)
        try:
            taken = self._ask(connection, self.acquire_sql)
        except db.Error as error:  # the database is away: a retell error, to retry later
            _close(connection)
            raise translate(error, self.alias) from error
        except BaseException:
            _close(connection)
            raise
        if taken:
            self._connection = connection
            return True
        _close(connection)
        return False

    def release(self) -> None:
        """End the lease's session, which releases its lock."""
        connection, self._connection = self._connection, None
        if connection is not None:
            _close(connection)

    def is_held(self) -> bool:
        """Whether the lease's session is alive and holds the lock."""
        connection = self._connection
        if connection is None:
            return False
        try:
            held = self._ask(connection, self.held_sql)
        except db.Error:
            held = False
        if not held:
            self.release()
        return held

    def _ask(self, connection: Any, sql: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(sql, self.lock_params())
            row = cursor.fetchone()
        return row is not None and bool(row[0])


class AdvisoryLease(ConnectionLease):
    """PostgreSQL: a session advisory lock, keyed like `retell.postgres`'s leases.

    The key space is apart from `retell.postgres` (a namespace of its own), and from
    the in-flight registry's two-key locks.
    """

    acquire_sql = "SELECT pg_catalog.pg_try_advisory_lock(%s)"
    held_sql = (  # a one-key lock shows as (classid << 32 | objid), objsubid 1
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
        "AND objsubid = 1 AND granted AND pid = pg_catalog.pg_backend_pid() "
        "AND ((classid::bigint << 32) | objid::bigint) = %s)"
    )

    def lock_params(self) -> tuple[Any, ...]:
        from retell.postgres.lease import lease_key

        return (lease_key("retell.django", self.name),)


class NamedLockLease(ConnectionLease):
    """MySQL and MariaDB: ``GET_LOCK``, whose names are server-wide, so they carry the
    database's name, and are hashed when too long."""

    acquire_sql = "SELECT GET_LOCK(%s, 0)"
    held_sql = "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()"

    def lock_params(self) -> tuple[Any, ...]:
        database = connections[self.alias].settings_dict["NAME"]
        name = f"retell:{database}:{self.name}"
        if len(name) > MYSQL_LOCK_NAME_LENGTH:
            name = "retell:" + hashlib.sha256(name.encode()).hexdigest()[:56]
        return (name,)


def lease(alias: str, name: str) -> Lease:
    """The lease `name` on the database of the ``DATABASES`` alias `alias`."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return AdvisoryLease(name, alias)
    if connection.vendor == "mysql":
        return NamedLockLease(name, alias)
    path = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite" and not DatabaseCreation.is_in_memory_db(path):
        return FileLease(name, f"{path}.{name.replace(':', '-').replace('/', '-')}.lease")
    # In-memory SQLite lives in one process; another vendor has no lease of ours yet.
    return ProcessLocalLease(name)


def dedicated_connection(alias: str) -> Any:
    """A new Django connection to the alias's database, never pooled, of the caller's own.

    Its settings are the alias's (host, user, ``OPTIONS``, init commands), except a
    pool: a pooled session would outlive `close()`, and the lock with it.
    """
    settings_dict = dict(connections.settings[alias])
    options = dict(settings_dict.get("OPTIONS") or {})
    options.pop("pool", None)
    settings_dict["OPTIONS"] = options
    connection = type(connections[alias])(settings_dict, alias)
    connection.inc_thread_sharing()  # a lease may be taken in one thread, checked in another
    return connection


def _close(connection: Any) -> None:
    with contextlib.suppress(db.Error):
        connection.close()
