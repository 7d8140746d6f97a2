"""Connections to one PostgreSQL database, shared by the recorders of one factory.

Why it is built this way:

- A psycopg_pool ``ConnectionPool`` of POSTGRES_POOL_SIZE connections, in autocommit
  mode: a save is one statement (see `retell.postgres.protocol`), so it needs no
  BEGIN or COMMIT round trip, and a read is one statement with its own snapshot.
- The timeouts (lock, statement, idle in transaction) are set in the startup packet
  of each connection, so they cost no round trip, and a stuck lock is an error, not a
  hang.
- A thread keeps the connection it took from the pool between statements (parked),
  since taking and returning a pooled connection around each statement costs about
  a tenth of a short command. It stays within POSTGRES_POOL_SIZE and one thread at a
  time: a parked connection goes back to the pool when its thread ends, when another
  thread is waiting for one, and at least every KEEP_SECONDS (so the pool's upkeep
  still reaches it); a thread that finds the pool used up takes another thread's
  parked connection instead of waiting.
- A pooled connection is checked before use without a round trip: an idle connection
  in autocommit mode has nothing to read, so a readable socket means the server has
  closed it (a restart, an administrator); it is dropped and another taken. Reads and
  saves skip the check on a connection that finished a statement less than
  TRUSTED_SECONDS ago: the check is a system call, which lets another thread take the
  interpreter lock, and both recover from a connection lost on the way (below).
- A read that fails because its connection was lost is retried on another. A write
  whose connection is lost after it was sent may have committed: it is settled, not
  guessed. Once the old session is gone (only then is its transaction over), the
  recorder looks for what it wrote; found, the write's result is returned, not found,
  the write runs again. If that cannot be told, the error says the write may or may
  not have been recorded.
- A statement the server does not answer within POSTGRES_RESPONSE_TIMEOUT (a stopped
  or cut-off server, which no server-side timeout can end) has its connection closed
  by the `retell.postgres.watchdog`. It is not retried, nor settled: another connection
  would wait as long, and the old session still runs. A write's error says it may or
  may not have been recorded.
- A failure to get a connection at all is reported with host and port, within
  POSTGRES_CONNECT_TIMEOUT: when the pool has no connection to give, one direct
  connection attempt tells why (refused, unknown database, wrong login...).
- Recorders `attach` to it and `detach` when closed; the last to detach closes it,
  and so does the factory's `close`.
- After ``fork()`` the child leaves what it inherited alone (the parent's sockets:
  closing them would end the parent's sessions) and opens its own pool and listener,
  so an application constructed before forking (a pre-loading web server) works in
  its workers.
"""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from retell.errors import InterfaceError, OperationalError, PersistenceError
from retell.postgres.errors import connection_error, is_connection_failure, no_answer, translate
from retell.postgres.listener import Listener
from retell.postgres.settings import PostgresSettings
from retell.postgres.watchdog import Watchdog, WatchedConnection

T = TypeVar("T")
Connection = psycopg.Connection[Any]
Cursor = psycopg.Cursor[Any]

POOL_WAIT_SLICE = 0.25
"""Seconds to wait for a pooled connection before asking the server directly why none came."""

READ_ATTEMPTS = 3
"""How many connections a read tries when each in turn turns out to be lost."""

KEEP_SECONDS = 60.0
"""How long a thread keeps one pooled connection before it gives it back to the pool."""

TRUSTED_SECONDS = 1.0
"""How long after its last statement a connection is used without checking it is open."""

_tokens = itertools.count()

_open_datastores: weakref.WeakSet[PostgresDatastore] = weakref.WeakSet()
_inherited: list[object] = []
"""A forked child's copies of its parent's pools and listeners: kept, never used nor closed."""


class PooledConnection(WatchedConnection):
    """A pooled connection that keeps one cursor for the protocol's statements.

    Making a cursor costs as much as a third of a short statement's client time, and a
    pooled connection is used by one thread at a time, so its cursor is reused.
    """

    _protocol_cursor: Cursor | None = None
    used_at = float("-inf")
    """When its last statement ended (`time.monotonic`)."""

    def protocol_cursor(self) -> Cursor:
        cursor = self._protocol_cursor
        if cursor is None or cursor.closed:
            cursor = self._protocol_cursor = self.cursor()
        return cursor


class _Keeper:
    """A thread's claim on the connection it parks between statements (`PostgresDatastore`).

    Held only by the thread's `threading.local`, so it dies with the thread, and its
    finalizer gives the thread's parked connection back to the pool.
    """

    __slots__ = ("__weakref__", "token", "until")

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.token = next(_tokens)
        self.until = 0.0
        """When the connection the thread took from the pool goes back to it."""
        weakref.finalize(self, _thread_ended, weakref.ref(datastore), self.token).atexit = False


class PostgresDatastore:
    """A pool of connections to one database, its listener thread, and error translation."""

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self._closed = False
        self._users = 0
        self._start()
        _open_datastores.add(self)

    def _start(self) -> None:
        """A new pool (opened on first use) and listener (started on first use)."""
        settings = self.settings
        self.watchdog = Watchdog(settings.response_timeout)
        self._direct_class = self.watchdog.bind(WatchedConnection)
        self._pool: ConnectionPool[PooledConnection] = ConnectionPool(
            connection_class=self.watchdog.bind(PooledConnection),
            kwargs={**settings.connect_kwargs(), "autocommit": True},
            min_size=1,
            max_size=settings.pool_size,
            open=False,
            name=f"retell-{settings.env.name}",
            timeout=settings.connect_timeout,
        )
        self._lock = threading.Lock()
        self._opened = False
        self._parked: dict[int, PooledConnection] = {}
        """Idle connections kept by threads, by their keepers' tokens (under `_lock`)."""
        self._out = 0
        """Connections taken from the pool and not given back (in use, or parked), and
        those being taken."""
        self._waiting = 0
        """Threads waiting for the pool: while any is, connections go back, not parked."""
        # After the new `_parked`: in a forked child, the keepers of the old `_local` die
        # here, and must find none of the parent's connections to give back.
        self._local = threading.local()
        self.listener = Listener(self.connect, settings.connect_timeout)

    def _after_fork(self) -> None:
        """In a forked child: keep the parent's pool and listener untouched, make new ones."""
        _inherited.append((self._pool, self.listener, self._parked))
        if not self._closed:
            self._start()

    @property
    def closed(self) -> bool:
        return self._closed

    def attach(self) -> None:
        with self._lock:
            self._users += 1

    def detach(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def close(self) -> None:
        """Stop the listener and close every connection (ones in use when they are returned)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            parked = list(self._parked.values())
            self._parked.clear()
        self.listener.stop()
        self._pool.close()
        self.watchdog.stop()
        for connection in parked:
            connection.close()

    def connect(self) -> Connection:
        """A new connection of its own (not pooled), in autocommit mode, or a clear error."""
        try:
            return self._direct_class.connect(**self.settings.connect_kwargs(), autocommit=True)
        except psycopg.Error as error:
            raise connection_error(error, self.settings) from error

    def read(self, action: Callable[[Cursor], T]) -> T:
        """Run a read on a pooled connection, on another if the connection turns out lost."""
        for attempt in range(READ_ATTEMPTS):
            connection = self._acquire(trusting=True)  # a read is run again if it was lost
            try:
                return action(connection.protocol_cursor())
            except psycopg.Error as error:
                if connection.timed_out:  # another connection would wait as long
                    raise no_answer(self.settings, write=False) from error
                if attempt + 1 < READ_ATTEMPTS and connection.broken:
                    continue
                raise translate(error, self.settings) from error
            finally:
                self._release(connection)
        raise AssertionError("unreachable")  # pragma: no cover

    def write(
        self, action: Callable[[Cursor], T], recover: Callable[[Cursor], T | None] | None = None
    ) -> T:
        """Run a write on a pooled connection; if the connection is lost on the way, find out.

        A write whose connection was lost may or may not have committed. With `recover`
        (which returns the write's result if it finds the write recorded, or None), the
        outcome is settled on a new connection once the old session is gone: the write
        is returned if it committed, run again if it did not. Otherwise, or while the old
        session may still be running, the error says the outcome is unknown.
        """
        connection = self._acquire(trusting=recover is not None)  # settled if it was lost
        session = connection.pgconn.backend_pid
        try:
            return action(connection.protocol_cursor())
        except psycopg.Error as error:
            if connection.timed_out:  # its session still runs: it cannot be settled now
                raise no_answer(self.settings, write=True) from error
            translated = translate(error, self.settings)
            if not (connection.broken and is_connection_failure(error)):
                raise translated from error
            lost = translated
        finally:
            self._release(connection)
        if recover is not None:
            try:
                found = self._look_for(session, recover)
            except PersistenceError:
                pass  # cannot tell (yet): say so
            else:
                return self.write(action) if found is None else found
        raise _in_doubt(lost) from lost.__cause__

    def _look_for(self, session: int, recover: Callable[[Cursor], T | None]) -> T | None:
        """What `recover` finds of a write whose connection (to backend `session`) was lost.

        Only once that backend has exited is its transaction over: if it committed, the
        commit completed first (a backend holds off termination while committing). A
        backend whose client vanished exits within moments (or, cut off by a network,
        when the server notices), so this waits up to POSTGRES_CONNECT_TIMEOUT for it,
        and raises `InterfaceError` if it is still running.
        """
        deadline = time.monotonic() + self.settings.connect_timeout
        with self._connection() as connection:
            cursor = connection.protocol_cursor()
            try:
                cursor.row_factory = tuple_row
                while True:
                    cursor.execute(
                        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = %s",
                        (session,),
                    )
                    row = cursor.fetchone()
                    if row is not None and row[0] == 0:
                        return recover(cursor)
                    if time.monotonic() > deadline:
                        raise InterfaceError("the session of the lost write is still running")
                    time.sleep(0.01)
            except psycopg.Error as error:
                raise translate(error, self.settings) from error

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A transaction on a pooled connection: committed at the end, rolled back on error.

        For a view's writes (which record the tracking position too); not retried.
        """
        with self._connection() as connection:
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    yield cursor
            except psycopg.Error as error:
                if connection.timed_out:
                    raise no_answer(self.settings, write=True) from error
                translated = translate(error, self.settings)
                if connection.broken and is_connection_failure(error):
                    raise _in_doubt(translated) from error
                raise translated from error

    @contextmanager
    def _connection(self) -> Iterator[PooledConnection]:
        connection = self._acquire()
        try:
            yield connection
        finally:
            self._release(connection)

    def _acquire(self, trusting: bool = False) -> PooledConnection:
        """A live connection for this thread: the one it parked, if it is still open.

        `trusting`: for a statement that recovers from a lost connection, one that ended
        a statement moments ago is taken to be open (TRUSTED_SECONDS).
        """
        try:
            keeper: _Keeper = self._local.keeper
        except AttributeError:
            keeper = self._local.keeper = _Keeper(self)
        connection = self._parked.pop(keeper.token, None)  # atomic: a thief may pop it first
        while True:
            if connection is None:
                connection = self._take()
                keeper.until = time.monotonic() + KEEP_SECONDS
            if trusting and time.monotonic() - connection.used_at < TRUSTED_SECONDS:
                if not connection.closed:
                    return connection
            elif _is_alive(connection):
                return connection
            connection.close()  # the pool replaces a closed connection
            self._give_back(connection)
            connection = None

    def _take(self) -> PooledConnection:
        """A connection from the pool; once the pool is used up, another thread's parked one."""
        with self._lock:
            if self._parked and self._out >= self.settings.pool_size:
                return self._parked.popitem()[1]
            self._waiting += 1
            # Counted now, not once the pool hands it over: a thread asking a moment
            # later must see the pool used up and take a parked connection, or it
            # would wait for the pool until it timed out.
            self._out += 1
        taken = False
        try:
            connection = self._getconn()
            taken = True
            return connection
        finally:
            with self._lock:
                self._waiting -= 1
                if not taken:
                    self._out -= 1

    def _release(self, connection: PooledConnection) -> None:
        """Park this thread's connection for its next statement, or give it back to the pool."""
        keeper: _Keeper = self._local.keeper
        connection.used_at = now = time.monotonic()
        if (
            connection.pgconn.transaction_status == TransactionStatus.IDLE
            and now < keeper.until
            and not connection.timed_out  # (its socket is shut down)
        ):
            with self._lock:
                # Taken: a statement nested in another's (a view's read in its transaction).
                taken = keeper.token in self._parked
                if not (self._waiting or self._closed or taken):
                    self._parked[keeper.token] = connection
                    return
        self._give_back(connection)

    def thread_ended(self, token: int) -> None:
        """Give the connection a thread parked back to the pool, once the thread is gone."""
        connection = self._parked.pop(token, None)
        if connection is not None:
            self._give_back(connection)

    def _give_back(self, connection: PooledConnection) -> None:
        """Return a connection to the pool (which closes it if the pool is closed, and
        replaces it if it is closed or broken)."""
        with self._lock:
            self._out -= 1
        self._pool.putconn(connection)

    def _getconn(self) -> PooledConnection:
        """A live pooled connection, or an error that says why there is none."""
        if not self._opened:
            self._open()
        deadline = time.monotonic() + self.settings.connect_timeout
        probed = False
        while True:
            wait = max(deadline - time.monotonic(), 0.001) if probed else POOL_WAIT_SLICE
            try:
                connection = self._pool.getconn(timeout=wait)
            except PoolTimeout:
                if self._closed:
                    raise self._closed_error() from None
                if probed:
                    raise self._pool_exhausted() from None
                self._probe()  # raises why the server cannot be used, if it cannot
                probed = True
                continue
            if _is_alive(connection):
                return connection
            connection.close()  # the pool replaces a closed connection
            self._pool.putconn(connection)

    def _open(self) -> None:
        """Open the pool, once a direct connection has shown that the server takes ours.

        Without that first look, a wrong port or login would only show as the pool's
        background retries, in the log, until the pool timed out.
        """
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if not self._opened:
                self._probe()
                self._pool.open(wait=False)
                self._opened = True

    def _probe(self) -> None:
        """Connect once, directly: raises the reason the pool cannot connect, if any."""
        self.connect().close()

    def _pool_exhausted(self) -> PersistenceError:
        key = self.settings.describe("POSTGRES_POOL_SIZE")
        return OperationalError(
            f"no connection to PostgreSQL at {self.settings.server} came free within "
            f"{self.settings.connect_timeout} seconds: all {key}={self.settings.pool_size} "
            f"were in use. Set {key} higher, or use fewer threads at once."
        )

    def _closed_error(self) -> PersistenceError:
        return InterfaceError(
            f"the connections to PostgreSQL at {self.settings.server} were closed (the "
            "application or recorder was closed): make a new application to use it again."
        )


def _in_doubt(lost: PersistenceError) -> PersistenceError:
    """The error for a write whose connection was lost after it was sent."""
    error = type(lost)(
        f"{lost} The connection was lost after the write was sent, so it may or may not "
        "have been recorded: read it back to see."
    )
    error.outcome_unknown = True
    return error


def _is_alive(connection: PooledConnection) -> bool:
    """Whether an idle pooled connection is still open, without a round trip.

    Idle in autocommit mode, with no LISTEN, a connection has nothing to read: if its
    socket is readable, the server has sent an error and closed it.
    """
    if connection.closed:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable


def _thread_ended(datastore: weakref.ref[PostgresDatastore], token: int) -> None:
    found = datastore()
    if found is not None:
        found.thread_ended(token)


def _after_fork_in_child() -> None:
    for datastore in list(_open_datastores):
        datastore._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
