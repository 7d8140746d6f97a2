"""Waking every subscription of a log in this process when one of its recorders commits.

A subscription sleeps until its recorder wakes it, and polls every second. The base
recorder wakes only its own subscriptions, but in a Django project one application
often has several recorders in a process: the web's instance of the application,
and a worker's (``runserver`` running projections in-process), each built from its
own factory. So the Django store keeps, per (alias, application), the recorders
that have subscriptions, and a commit to that log wakes them all: the page that
saved waits milliseconds, not up to a second, for a view to catch up.

Other processes' commits are still found by polling (every second): the store sends
no NOTIFY on PostgreSQL yet (see docs/django-projections.md).
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol


class Wakeable(Protocol):
    """A recorder of one application's log on one alias, whose subscriptions can be woken."""

    alias: str
    application_name: str

    def notify_subscribers(self) -> None:
        """Wake this recorder's subscriptions."""


_lock = threading.Lock()
_subscribed: dict[tuple[str, str], weakref.WeakSet[Wakeable]] = {}


def subscribed(recorder: Wakeable) -> None:
    """Note that `recorder` has subscriptions to wake (held weakly)."""
    key = (recorder.alias, recorder.application_name)
    with _lock:
        _subscribed.setdefault(key, weakref.WeakSet()).add(recorder)


def committed(recorder: Wakeable) -> None:
    """Wake the other subscribed recorders of `recorder`'s log in this process."""
    with _lock:
        recorders = list(_subscribed.get((recorder.alias, recorder.application_name), ()))
    for other in recorders:
        if other is not recorder:
            other.notify_subscribers()
