"""A bound on how long a call waits for the server on a connection that is already open.

Why it is needed: the statement and lock timeouts are enforced by the server, and a
server whose processes do not run (stopped, swapped out, its virtual machine paused)
enforces nothing. Its host's kernel still acknowledges every byte sent to it, and every
TCP keepalive probe, so neither keepalives nor ``tcp_user_timeout`` ever fire: measured
on a server stopped with SIGSTOP, a statement on a connection with keepalives every
second and ``tcp_user_timeout=2000`` was still waiting 10 seconds later. Without a
bound of the client's own, a call on an open connection waits as long as the server
stays stopped, with no error.

How: each statement sent on a `WatchedConnection` is given a deadline,
POSTGRES_RESPONSE_TIMEOUT after it was sent. A `Watchdog` thread (one per datastore,
started with its first statement) sleeps until the earliest deadline of the statements
in flight; if one has passed, it shuts the connection's socket down. Whatever waits on
that socket then returns at once, with the connection lost: psycopg's wait (on the
main thread, and for every statement run on a cursor) as well as a blocking libpq call
(`retell.postgres.libpq`, off the main thread), which nothing else can interrupt. The
connection is marked `timed_out`, so that the caller can say that the server did not
answer, rather than that it closed the connection.

Why not psycopg's own wait timeout: it does not reach a blocking libpq call, and it is
not in every psycopg release this package supports. The cost on the path of every
statement is two dictionary operations (0.16 µs measured); the thread, started with
the first statement, wakes about once per POSTGRES_RESPONSE_TIMEOUT.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, ClassVar, TypeVar, cast

import psycopg
from psycopg.abc import PQGen

logger = logging.getLogger("retell.postgres")

RV = TypeVar("RV")
C = TypeVar("C", bound="WatchedConnection")


class WatchedConnection(psycopg.Connection[Any]):
    """A connection whose waits for the server end once its `watchdog` says so.

    Every wait is bounded, so it is not for waits meant to be long (psycopg's
    ``notifies()``): the listener waits for notifications in ``select`` instead.
    """

    watchdog: ClassVar[Watchdog | None] = None
    """Set on the subclass a datastore makes (`Watchdog.bind`); None: no bound."""
    timed_out = False
    """Whether the watchdog closed it: the server did not answer in time."""

    def wait(self, gen: PQGen[RV], *args: Any, **kwargs: Any) -> RV:
        watchdog = self.watchdog
        if watchdog is None:
            return super().wait(gen, *args, **kwargs)
        watchdog.watch(self)
        try:
            return super().wait(gen, *args, **kwargs)
        finally:
            watchdog.done(self)


class Watchdog:
    """Shuts down the socket of a connection whose statement has waited `timeout` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._busy: dict[WatchedConnection, float] = {}
        """The connections waiting for the server, with their deadlines. Changed by the
        waiting threads without a lock (each change is one atomic dictionary operation);
        this thread reads copies."""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def bind(self, cls: type[C]) -> type[C]:
        """A subclass of `cls` whose connections this watchdog bounds (`cls` if no bound)."""
        if not self.timeout:
            return cls
        namespace = {
            "watchdog": self,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
        }
        return cast(type[C], type(cls.__name__, (cls,), namespace))

    def watch(self, connection: WatchedConnection) -> None:
        """A statement was sent on `connection`: start its clock."""
        self._busy[connection] = time.monotonic() + self.timeout
        if self._thread is None:
            self._start()

    def done(self, connection: WatchedConnection) -> None:
        """The statement on `connection` ended (answered or failed)."""
        self._busy.pop(connection, None)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="retell-watchdog", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            earliest = now + self.timeout
            for connection, deadline in self._busy.copy().items():
                if deadline <= now:
                    try:
                        self._close(connection, deadline)
                    except Exception:  # the thread must go on, or no call is bounded
                        logger.exception("the watchdog could not close a connection")
                else:
                    earliest = min(earliest, deadline)
            if self._stopping.wait(earliest - now):
                return

    def _close(self, connection: WatchedConnection, deadline: float) -> None:
        """Shut down the socket of a statement past its deadline, if it is still waiting.

        Through a duplicate of its descriptor, taken before looking again that the same
        statement is still waiting on the same socket: so a statement that ended in the
        meantime, and a descriptor closed and reused by then, are left alone.
        """
        try:
            fd = connection.pgconn.socket
            duplicate = os.dup(fd)
        except (psycopg.Error, OSError):
            self._busy.pop(connection, None)  # closed meanwhile: nothing is waiting
            return
        try:
            if self._busy.get(connection) == deadline and connection.pgconn.socket == fd:
                connection.timed_out = True
                with socket.socket(fileno=duplicate) as sock:
                    duplicate = -1  # the socket object closes it
                    sock.shutdown(socket.SHUT_RDWR)
        except (psycopg.Error, OSError):
            pass  # closed meanwhile, or no longer a socket
        finally:
            if duplicate >= 0:
                os.close(duplicate)
