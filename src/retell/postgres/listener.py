"""One thread per datastore that hears other processes' commits and announces this one's.

Subscriptions (`retell.persistence.Subscription`) sleep until woken, and poll every
second in case nothing wakes them. A commit in this process wakes them directly; a
commit in another process reaches them through LISTEN/NOTIFY:

- after each commit, the recorder calls `announce(channel)`; this thread then sends
  ``pg_notify`` on its own connection, in a transaction of its own, and a save never
  waits for it. (NOTIFY inside the writer's transaction would serialise all writers'
  commits: see `retell.postgres.protocol.notify`.) Under load it sends at most one
  NOTIFY per NOTIFY_INTERVAL, for everything announced meanwhile: after a NOTIFY it
  sleeps out the interval, and only an announcement to a thread that had nothing to
  send wakes it. So a busy writer costs it one wake-up per interval, not one per
  save: each wake-up takes the interpreter lock from the threads doing the work, and
  each write to its wake-up pipe is a system call in the saving thread.
- the same connection LISTENs on the channels of this process's subscriptions; a
  notification from another backend wakes the subscriptions of its channel.
- when the connection is lost, the thread reconnects with a growing delay, LISTENs
  again and wakes every subscription, since it may have missed notifications while
  it was away. Meanwhile subscriptions still poll.
- it never waits for the server without a bound: connecting takes at most
  POSTGRES_CONNECT_TIMEOUT, a statement (LISTEN, NOTIFY) at most
  POSTGRES_RESPONSE_TIMEOUT (its connection is a `WatchedConnection`, closed when a
  stopped server does not answer), and between statements it waits in ``select``
  with a timeout. TCP keepalives find an idle connection whose server vanished.

A notification only ever causes a read, never replaces one, so a lost, duplicated
or spurious notification costs at most a poll interval of latency, never an event.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from retell.errors import RetellError
from retell.postgres.protocol import notify
from retell.postgres.watchdog import WatchedConnection

logger = logging.getLogger("retell.postgres")

Connection = psycopg.Connection[Any]
Wake = Callable[[], None]

IDLE_WAIT = 5.0
"""Seconds the thread sleeps at most between looks at its connection."""

NOTIFY_INTERVAL = 0.005
"""Seconds between two NOTIFYs at least: announcements in between are sent together.

Each NOTIFY is a small transaction on the server; one per save would cost a busy
single writer a fifth of its throughput, while other processes' subscribers wait
at most this much longer (they also poll every second, whatever happens)."""

MAX_RECONNECT_DELAY = 5.0


class Listener:
    """LISTEN for other processes' commits, NOTIFY them of ours: one thread, one connection."""

    def __init__(self, connect: Callable[[], Connection], ready_timeout: float) -> None:
        self._connect = connect
        self._ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wanted: dict[str, list[weakref.WeakMethod[Wake]]] = {}
        self._listening: set[str] = set()
        self._pending: set[str] = set()
        self._resting = False
        """Whether the thread is sleeping out NOTIFY_INTERVAL: it looks at `_pending`
        when it wakes, so announcing need not wake it (under `_lock`)."""
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = -1, -1

    def listen(self, channel: str, wake: Wake) -> None:
        """Call `wake` (a bound method, held weakly) when another process commits to `channel`.

        Returns once the LISTEN is in place, so that nothing committed after this call
        goes unheard, or after the connect timeout if the server cannot be reached
        (subscriptions then rely on polling until the thread reconnects).
        """
        with self._lock:
            if self._stopping.is_set():
                return
            wakes = self._wanted.setdefault(channel, [])
            if not any(reference() == wake for reference in wakes):
                wakes.append(weakref.WeakMethod(wake))
            self._ensure_thread()
            self._wake_thread()
            self._changed.wait_for(
                lambda: channel in self._listening or self._stopping.is_set(),
                timeout=self._ready_timeout,
            )

    def announce(self, channel: str) -> None:
        """Tell other processes that this one committed to `channel` (soon, coalesced)."""
        with self._lock:
            if self._stopping.is_set():
                return
            asleep = not (self._pending or self._resting)
            self._pending.add(channel)
            self._ensure_thread()
            if asleep:
                self._wake_thread()

    def stop(self) -> None:
        """Stop the thread and close its connection; later calls do nothing."""
        with self._lock:
            self._stopping.set()
            self._changed.notify_all()
            thread = self._thread
            if thread is not None:
                self._wake_thread()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        for fd in (self._wake_read, self._wake_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_read = self._wake_write = -1

    # The caller holds self._lock in the two methods below.

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._wake_read, self._wake_write = os.pipe()
            os.set_blocking(self._wake_write, False)
            self._thread = threading.Thread(target=self._run, name="retell-listener", daemon=True)
            self._thread.start()

    def _wake_thread(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"!")

    # The thread.

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                connection = self._connect()
            except (RetellError, psycopg.Error, OSError) as error:
                logger.warning("listener cannot connect, retrying in %.1fs: %s", delay, error)
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            delay = 0.1
            try:
                self._serve(connection)
            except Exception as error:  # whatever it was, reconnect and carry on
                if self._stopping.is_set():
                    pass
                elif isinstance(connection, WatchedConnection) and connection.timed_out:
                    logger.warning(
                        "the server did not answer the listener within %s seconds "
                        "(POSTGRES_RESPONSE_TIMEOUT): reconnecting",
                        connection.watchdog.timeout if connection.watchdog else "?",
                    )
                else:
                    logger.warning("listener lost its connection: %s", error)
            finally:
                with self._lock:
                    self._listening.clear()
                connection.close()

    def _serve(self, connection: Connection) -> None:
        """LISTEN, NOTIFY and deliver on one connection until it fails or the thread stops."""
        own_pid = connection.info.backend_pid

        def deliver(channel: str, pid: int) -> None:
            if pid != own_pid:
                self._wake_channel(channel)

        connection.add_notify_handler(lambda n: deliver(n.channel, n.pid))
        cursor = connection.cursor()
        first = True
        next_notify = 0.0
        while not self._stopping.is_set():
            self._listen_to_new_channels(connection)
            if first:  # after a reconnection: read what was committed while not listening
                self._wake_all()
                first = False
            now = time.monotonic()
            with self._lock:
                due = now >= next_notify
                pending = self._pending if due else set()
                if due:
                    self._pending = set()
                self._resting = bool(pending) or not due
            if pending:
                notify(cursor, sorted(pending))
                next_notify = now + NOTIFY_INTERVAL
            wait = max(next_notify - time.monotonic(), 0.0) if self._resting else IDLE_WAIT
            readable, _, _ = select.select([connection.fileno(), self._wake_read], [], [], wait)
            if self._wake_read in readable:
                os.read(self._wake_read, 4096)
            if connection.fileno() in readable:
                pgconn = connection.pgconn
                pgconn.consume_input()
                if pgconn.status != psycopg.pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the listener's connection was closed")
                while (received := pgconn.notifies()) is not None:
                    deliver(received.relname.decode(), received.be_pid)

    def _listen_to_new_channels(self, connection: Connection) -> None:
        with self._lock:
            new = [c for c in self._wanted if c not in self._listening]
        if not new:
            return
        for channel in new:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        with self._lock:
            self._listening.update(new)
            self._changed.notify_all()

    def _wake_channel(self, channel: str) -> None:
        with self._lock:
            references = self._wanted.get(channel, [])
            wakes = [w for w in (r() for r in references) if w is not None]
            if len(wakes) < len(references):  # forget recorders that are gone
                references[:] = [r for r in references if r() is not None]
        for wake in wakes:
            wake()

    def _wake_all(self) -> None:
        with self._lock:
            channels = list(self._wanted)
        for channel in channels:
            self._wake_channel(channel)
