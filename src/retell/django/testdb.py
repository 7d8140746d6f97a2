"""Django's test databases, used by retell's threads: dropping them, and SQLite in memory.

Tests start threads that use the database (a `ProjectionRunner`, a runner's
followers, the LISTEN connection on PostgreSQL, a live server), and Django's test
databases were made for one thread. Two things go wrong, and are handled here, from
Django's ``connection_created`` signal, whatever runs the tests (``manage.py test``,
pytest-django, a script):

- **PostgreSQL refuses ``DROP DATABASE``** while another session is connected
  ("database ... is being accessed by other users"), and retell keeps sessions that
  the test's thread does not: the listener's, and the Django connections of threads
  that ran projections or followers, open after the thread ends until the garbage
  collector gets to them. Django drops a test database through a connection of its
  own, made without a database: its statements are watched, and just before a ``DROP
  DATABASE`` (or a copy made of the database, for ``manage.py test --parallel``) the
  listeners on that database stop and the sessions that other threads hold on it are
  ended on the server (`pg_terminate_backend`: closing another thread's client
  connection could pull it from under a statement in flight). A thread still running
  then fails on its next statement, as it would with the database gone. Connections
  to any other database are left alone.
- **SQLite's in-memory test database** (Django's default) is shared between threads
  through SQLite's shared cache, whose table locks are not covered by the busy
  timeout: a thread that reads a table another is writing fails at once with
  "database table is locked". On such a connection a statement refused for a table
  lock is retried until the lock is free, up to the connection's ``timeout`` (5
  seconds unless ``OPTIONS`` say otherwise), as the busy timeout does for a file.
  Databases in files, tests' or not, are left alone.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from typing import Any

from django.db import OperationalError
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.signals import connection_created

_RELEASING = re.compile(
    r'\s*(?:DROP\s+DATABASE\s+(?:IF\s+EXISTS\s+)?|CREATE\s+DATABASE\s.*?\bTEMPLATE\s+)"?([^"\s;]+)',
    re.IGNORECASE | re.DOTALL,
)
"""``DROP DATABASE name``, and ``CREATE DATABASE ... TEMPLATE name`` (a clone for
``manage.py test --parallel``), which PostgreSQL refuses too while `name` is in use."""

_TABLE_LOCK = re.compile(r"database (?:table|schema) is locked")
"""SQLite's messages for SQLITE_LOCKED (shared cache), which the busy timeout does not cover;
not "database is locked", which it does, and has waited for already."""

_lock = threading.Lock()
_opened: weakref.WeakKeyDictionary[Any, tuple[str, int]] = weakref.WeakKeyDictionary()
"""Each PostgreSQL connection made: the database it is on, and the thread that made it."""


def _connected(sender: object, connection: Any, **kwargs: object) -> None:
    """Watch what needs watching on a connection Django has just made."""
    vendor = connection.vendor
    if vendor == "sqlite":
        if connection.is_in_memory_db() and _retry_locked not in connection.execute_wrappers:
            connection.execute_wrappers.append(_retry_locked)
    elif vendor == "postgresql":
        if connection.alias == NO_DB_ALIAS:
            if _before_drop not in connection.execute_wrappers:
                connection.execute_wrappers.append(_before_drop)
            return
        with _lock:
            _opened[connection] = (str(connection.settings_dict["NAME"]), threading.get_ident())


def _retry_locked(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Run the statement; while SQLite's shared cache refuses it for a table lock, again."""
    connection = context["connection"]
    errors_before = connection.errors_occurred
    deadline, pause = 0.0, 0.001
    while True:
        try:
            result = execute(sql, params, many, context)
        except OperationalError as error:
            if not _TABLE_LOCK.search(str(error)):
                raise
            now = time.monotonic()
            if not deadline:
                options = connection.settings_dict.get("OPTIONS") or {}
                deadline = now + float(options.get("timeout", 5))
            if now >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            continue
        if deadline:  # it did run: the refusals were no error of the connection's
            connection.errors_occurred = errors_before
        return result


def _before_drop(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Before ``DROP DATABASE name`` (or a clone of `name`): release what this process
    holds on `name`."""
    match = _RELEASING.match(sql) if isinstance(sql, str) else None
    if match is not None:
        release(match.group(1), context["cursor"])
    return execute(sql, params, many, context)


def release(database: str, cursor: Any) -> None:
    """Stop the listeners on `database`, and end the sessions other threads hold on it
    (with `cursor`, on a connection to another database)."""
    from retell.django import wakeups

    wakeups.stop_listeners(database)
    here = threading.get_ident()
    with _lock:
        opened = list(_opened.items())
    pids = [
        pid
        for wrapper, (name, thread) in opened
        if name == database and thread != here and (pid := _backend_pid(wrapper)) is not None
    ]
    if pids:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::integer[]) AS pid", [pids])


def _backend_pid(wrapper: Any) -> int | None:
    """The server process of the wrapper's connection, if it is open."""
    raw = wrapper.connection
    if raw is None or getattr(raw, "closed", True):
        return None
    pid = getattr(getattr(raw, "info", None), "backend_pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


connection_created.connect(_connected, dispatch_uid="retell.django.testdb")
