"""On PostgreSQL the Django store tells other processes of its commits (LISTEN/NOTIFY).

Both directions, each with a raw connection standing in for another process: a save
is announced on its log's channel after the commit, and an announcement from
elsewhere wakes this process's subscriptions (whose polling is slowed to a minute,
so nothing else could wake them in time).
"""

from __future__ import annotations

import threading
import time
from uuid import uuid4

import psycopg
import pytest
from django.db import connections

from retell.django import wakeups
from retell.django.recorders import DjangoApplicationRecorder
from retell.persistence.records import Notification
from retell.testing.recorders import stored
from tests.django import services

pytestmark = pytest.mark.postgres


def raw_connection() -> psycopg.Connection[tuple[object, ...]]:
    settings = connections["postgres"].settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        dbname=settings["NAME"],
        user=settings["USER"],
        autocommit=True,
    )


@pytest.fixture
def recorder() -> DjangoApplicationRecorder:
    services.prepare("postgres")
    return DjangoApplicationRecorder("postgres", f"N{uuid4().hex[:12]}")


def test_a_save_is_announced_after_its_commit(recorder: DjangoApplicationRecorder) -> None:
    with raw_connection() as other:
        other.execute(f"LISTEN {wakeups.channel(recorder.application_name)}")
        recorder.subscribe()  # makes this process's listener, which announces saves
        recorder.insert_events([stored(uuid4(), 1)])
        heard = list(other.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in heard] == [wakeups.channel(recorder.application_name)]


def test_an_announcement_from_elsewhere_wakes_subscriptions(
    recorder: DjangoApplicationRecorder,
) -> None:
    subscription = recorder.subscribe()
    subscription._poll_interval = 60  # only a notification can wake it within the test
    received: list[Notification] = []
    consumer = threading.Thread(target=lambda: received.append(next(subscription)))
    consumer.start()
    time.sleep(0.2)  # the consumer has read nothing and sleeps
    writer = DjangoApplicationRecorder("postgres", recorder.application_name)
    saved = wakeups._subscribed
    wakeups._subscribed = {}  # as if the save were made by another process
    try:
        (position,) = writer.insert_events([stored(uuid4(), 1)])
    finally:
        wakeups._subscribed = saved
    time.sleep(0.2)
    assert not received, "woken without a notification: the test proves nothing"
    with raw_connection() as other:
        other.execute(f"NOTIFY {wakeups.channel(recorder.application_name)}")
    consumer.join(timeout=5)
    subscription.stop()
    assert [n.id for n in received] == [position]


def test_the_listener_survives_a_reconnect_that_fails(recorder: DjangoApplicationRecorder) -> None:
    """A server that refuses connections for a while must not end the LISTEN thread."""
    recorder.subscribe()
    listener = wakeups._listeners["postgres"]
    assert listener._thread is not None and listener._thread.is_alive()
    database = connections["postgres"].settings_dict["NAME"]
    settings = connections["postgres"].settings_dict
    admin = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], dbname="postgres", user=settings["USER"]
    )
    admin.autocommit = True
    try:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
        time.sleep(1.0)  # the listener tries to reconnect, and is refused
    finally:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        admin.close()
        connections["postgres"].close()
    time.sleep(0.5)
    assert listener._thread.is_alive(), "the LISTEN thread died on a refused reconnect"
