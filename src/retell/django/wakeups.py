"""Waking every subscription of a log in this process when one of its recorders commits.

A subscription sleeps until its recorder wakes it, and polls every second. The base
recorder wakes only its own subscriptions, but in a Django project one application
often has several recorders in a process: the web's instance of the application,
and a worker's (``runserver`` running projections in-process), each built from its
own factory. So the Django store keeps, per (alias, application), the recorders
that have subscriptions, and a commit to that log wakes them all: the page that
saved waits milliseconds, not up to a second, for a view to catch up.

On PostgreSQL, other processes hear of a commit through LISTEN/NOTIFY, with the
same `retell.postgres` listener the PostgreSQL store uses: one thread per alias,
on a connection of its own, announcing after `transaction.on_commit` (never inside
the caller's transaction, which would serialise every writer's commit) and waking
this process's subscriptions when another process announces. Elsewhere other
processes' commits are found by polling, every second.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from django import db
from django.db import connections

from retell.django import testdb  # noqa: F401 (Django's test databases, see there)
from retell.django.leases import dedicated_connection
from retell.errors import OperationalError

if TYPE_CHECKING:  # psycopg is only needed (and imported) on PostgreSQL
    from retell.postgres.listener import Listener


class Wakeable(Protocol):
    """A recorder of one application's log on one alias, whose subscriptions can be woken."""

    alias: str
    application_name: str

    def notify_subscribers(self) -> None:
        """Wake this recorder's subscriptions."""


_lock = threading.Lock()
_subscribed: dict[tuple[str, str], weakref.WeakSet[Wakeable]] = {}
_listeners: dict[str, Listener] = {}
_connections: dict[int, Any] = {}  # raw connection id -> its Django wrapper, kept alive


def subscribed(recorder: Wakeable) -> None:
    """Note that `recorder` has subscriptions to wake (held weakly); on PostgreSQL, LISTEN."""
    key = (recorder.alias, recorder.application_name)
    with _lock:
        _subscribed.setdefault(key, weakref.WeakSet()).add(recorder)
    listener = _listener(recorder.alias)
    if listener is not None:
        listener.listen(channel(recorder.application_name), recorder.notify_subscribers)


def committed(recorder: Wakeable) -> None:
    """Wake the other subscribed recorders of `recorder`'s log; tell other processes too."""
    with _lock:
        recorders = list(_subscribed.get((recorder.alias, recorder.application_name), ()))
    for other in recorders:
        if other is not recorder:
            other.notify_subscribers()
    listener = _listener(recorder.alias)
    if listener is not None:
        listener.announce(channel(recorder.application_name))


@functools.lru_cache(maxsize=256)
def channel(application_name: str) -> str:
    """The NOTIFY channel of an application's log (at most 63 bytes, as PostgreSQL wants)."""
    name = f"retell_django_{application_name.lower()}"
    if len(name.encode()) <= 63:
        return name
    return "retell_django_" + hashlib.sha256(application_name.encode()).hexdigest()[:40]


def stop_listeners(database: str | None = None) -> None:
    """Stop the listener threads, and close their connections: all of them, or those on
    `database` (which Django is about to drop, see `retell.django.testdb`). A later
    commit or subscription starts a new one."""
    with _lock:
        on = {w.alias for w in _connections.values() if w.settings_dict["NAME"] == database}
        aliases = [a for a in _listeners if database in (None, _database(a)) or a in on]
        listeners = [_listeners.pop(alias) for alias in aliases]
        wrappers = [w for w in _connections.values() if w.alias in aliases]
        for key in [k for k, w in _connections.items() if w.alias in aliases]:
            del _connections[key]
    for listener in listeners:
        listener.stop()
    for wrapper in wrappers:
        wrapper.close()


def _database(alias: str) -> str:
    """The name of the database the alias's connections are made to now."""
    return str(connections.settings[alias]["NAME"])


def _listener(alias: str) -> Listener | None:
    """The alias's listener on PostgreSQL with psycopg 3 (Django's psycopg2 gets polling)."""
    listener = _listeners.get(alias)  # after every commit: the quick way first
    if listener is not None:
        return listener
    connection = connections[alias]
    driver = getattr(getattr(connection, "Database", None), "__name__", "")
    if connection.vendor != "postgresql" or driver != "psycopg":
        return None
    from retell.postgres.listener import Listener

    with _lock:
        listener = _listeners.get(alias)
        if listener is None:
            listener = _listeners[alias] = Listener(lambda: _raw_connection(alias), 5.0)
        return listener


def _raw_connection(alias: str) -> Any:
    """A psycopg connection of the listener's own, in autocommit, from the alias's settings.

    Django's errors become retell's: the listener retries on those (a server restart),
    where any other error would end its thread.
    """
    wrapper = dedicated_connection(alias)
    try:
        wrapper.ensure_connection()
    except db.Error as error:
        raise OperationalError(
            f"the LISTEN connection of {alias!r} cannot connect: {error}"
        ) from error
    raw = wrapper.connection
    raw.autocommit = True
    with _lock:  # forget the connections of earlier attempts, closed by now
        for key in [k for k, w in _connections.items() if w.alias == alias and k != id(raw)]:
            _connections.pop(key).close()
        _connections[id(raw)] = wrapper
    return raw
