"""Connections to one SQLite database, shared by the recorders of one factory.

Why it is built this way:

- SQLite lets one connection write at a time. Every write transaction starts with
  ``BEGIN IMMEDIATE``, which takes the write lock before anything is read, so
  notification ids (the next rowid) are allocated in commit order. Writers of other
  processes wait for the lock in SQLite's busy handler, up to SQLITE_LOCK_TIMEOUT.
- Writers of this process first queue on a Python lock, one per database file. The
  busy handler polls with sleeps of a millisecond and more, many times longer than a
  save takes, so without the Python lock threads would mostly sleep.
- A read is one statement in autocommit mode: its own consistent snapshot, with no
  BEGIN and ROLLBACK round trips. In WAL mode readers never wait for the writer.
- Connections are pooled in a deque (popping and appending are atomic), so a call
  reuses a connection and SQLite's statements prepared on it; the pool grows to the
  number of threads using the database at once. No PRAGMA runs per call.
- An in-memory database exists inside one connection, so ``:memory:`` gets exactly
  one connection, and every use of it, reads too, holds the lock.
- After ``fork()`` the child drops what it inherited (connections, and locks another
  thread may have held), as SQLite requires, and opens its own connections.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from retell.errors import OperationalError
from retell.sqlite.errors import closed, translate
from retell.sqlite.settings import SQLiteSettings


class _WriteLocks:
    """The process's one write lock per database file, shared by all its factories."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every lock (in a forked child, where another thread may have held one)."""
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, path: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())


_write_locks = _WriteLocks()
_open_databases: weakref.WeakSet[SQLiteDatabase] = weakref.WeakSet()
_inherited: list[sqlite3.Connection] = []
"""A forked child's copies of its parent's connections: kept, never used nor closed."""


class SQLiteDatabase:
    """A pool of connections to one database, with its write lock and error translation.

    Recorders `attach` to it and `detach` when closed; the last to detach closes it.
    """

    def __init__(self, settings: SQLiteSettings) -> None:
        self.settings = settings
        self._memory = settings.is_memory
        self._idle: deque[sqlite3.Connection] = deque()
        self._closed = False
        self._users = 0
        self._users_lock = threading.Lock()
        self._reset_locks()
        self._idle.append(self._connect())  # fail now, not at the first save, if it cannot open
        _open_databases.add(self)

    def _reset_locks(self) -> None:
        path = self.settings.path
        if path is None:
            self._write_lock = threading.Lock()
            self._read_lock: threading.Lock | None = self._write_lock
        else:
            self._write_lock = _write_locks.get(path)
            self._read_lock = None

    @property
    def closed(self) -> bool:
        return self._closed

    def attach(self) -> None:
        with self._users_lock:
            self._users += 1

    def detach(self) -> None:
        with self._users_lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def read(self, statement: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of one query, run outside any transaction as its own snapshot."""
        lock = self._read_lock
        if lock is None:
            return self._read(statement, parameters)
        self._acquire_lock(lock)
        try:
            return self._read(statement, parameters)
        finally:
            lock.release()

    def _read(self, statement: str, parameters: Sequence[Any]) -> list[Any]:
        connection = self._acquire()
        try:
            return connection.execute(statement, parameters).fetchall()
        except sqlite3.Error as error:
            raise translate(error, self.settings) from error
        finally:
            self._release(connection)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE``, then commit, or roll back on any error."""
        lock = self._write_lock
        self._acquire_lock(lock)
        try:
            connection = self._acquire()
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield connection
                connection.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    connection.rollback()
                if isinstance(error, sqlite3.Error):
                    raise translate(error, self.settings) from error
                raise
            finally:
                self._release(connection)
        finally:
            lock.release()

    def _acquire_lock(self, lock: threading.Lock) -> None:
        """Take `lock`, waiting no longer than SQLITE_LOCK_TIMEOUT for it."""
        if not lock.acquire(timeout=self.settings.lock_timeout):
            raise OperationalError(
                f"the SQLite database {self.settings.dbname!r} stayed locked by another thread "
                f"for more than {self.settings.describe('SQLITE_LOCK_TIMEOUT')}="
                f"{self.settings.lock_timeout} seconds: set it higher, or make what holds the "
                "lock (a long save?) quicker."
            )

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.pop()
        except IndexError:
            if self._closed or self._memory:  # the one in-memory connection is never remade
                raise closed(self.settings) from None
            return self._connect()

    def _release(self, connection: sqlite3.Connection) -> None:
        """Return a connection to the pool, unless it is unusable or the pool is closed."""
        if connection.in_transaction and not self._memory:
            connection.close()  # a failed rollback: do not hand the transaction to the next user
            return
        self._idle.append(connection)
        if self._closed:
            self._close_idle()

    def _connect(self) -> sqlite3.Connection:
        settings = self.settings
        try:
            connection = sqlite3.connect(
                settings.dbname,
                timeout=settings.lock_timeout,
                isolation_level=None,  # we issue BEGIN and COMMIT ourselves
                check_same_thread=False,  # the pool hands connections between threads
                uri=settings.dbname.startswith("file:"),
            )
        except sqlite3.Error as error:
            raise translate(error, settings) from error
        try:
            if not self._memory:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(f"PRAGMA synchronous={settings.synchronous}")
        except sqlite3.Error as error:
            connection.close()
            raise translate(error, settings) from error
        return connection

    def close(self) -> None:
        """Close every connection: idle ones now, ones in use when they are returned."""
        self._closed = True
        self._close_idle()

    def _close_idle(self) -> None:
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                return
            connection.close()

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's locks and file connections, open new ones.

        An in-memory database is the child's own copy now, and stays usable.
        """
        self._users_lock = threading.Lock()
        self._reset_locks()
        if not self._memory:
            _inherited.extend(self._idle)
            self._idle = deque()


def _after_fork_in_child() -> None:
    _write_locks.reset()
    for database in list(_open_databases):
        database._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
