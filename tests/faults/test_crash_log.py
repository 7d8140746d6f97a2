"""The global log through a server crash, on the PostgreSQL store: no consumer of
the log (a reader, a subscription, a follower, a projection runner) skips an event
whose id was handed out again after the crash (`tests/faults/crash_scenario.py`)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from retell.postgres import NotificationLog, PostgresTrackingRecorder, protocol

from . import crash_scenario
from .cluster import Cluster
from .crash_scenario import Dog, Kennel

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def held_save(cluster: Cluster) -> crash_scenario.HeldSave:
    """A save in a transaction of a connection of its own, committed when the context ends."""

    @contextlib.contextmanager
    def save(app: Kennel, dog: Dog) -> Iterator[None]:
        stored = [app.mapper.to_stored_event(e) for e in dog.collect_events()]
        with psycopg.connect(cluster.conninfo) as connection:
            with connection.cursor() as cursor:
                protocol.insert_notifications(cursor, NotificationLog(app.factory.tables), stored)
            yield
            connection.commit()

    return save


class View(PostgresTrackingRecorder):
    """A view with nothing but its tracking positions."""


CONSUMERS: dict[str, Callable[[dict[str, str]], crash_scenario.Consumer]] = {
    "reader": crash_scenario.Reader,
    "subscription": crash_scenario.subscription,
    "follower": crash_scenario.Follower,
    "projection runner": lambda env: crash_scenario.Projected(env, View),
}


@pytest.mark.parametrize("kind", CONSUMERS)
def test_a_consumer_that_lives_through_a_crash_skips_nothing(
    cluster: Cluster, schema: str, kind: str
) -> None:
    env = cluster.env(schema, POSTGRES_CONNECT_TIMEOUT="5")
    with Kennel(env=env):
        pass  # the tables, before the consumer's first read
    consumer = CONSUMERS[kind](env)
    try:
        crash_scenario.run(env, consumer, cluster.restart_after_crash, held_save(cluster))
    finally:
        consumer.close()


@pytest.mark.parametrize("kind", CONSUMERS)
def test_on_the_django_store_too(cluster: Cluster, kind: str) -> None:
    """The same scenario, on the Django store on PostgreSQL (a process of its own)."""
    cluster.admin("DROP DATABASE IF EXISTS test WITH (FORCE)")
    cluster.admin("CREATE DATABASE test")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.django_crash", str(cluster.port), kind],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline().strip()
        if line == "crash":
            cluster.restart_after_crash()
            process.stdin.write("up\n")
            process.stdin.flush()
            line = process.stdout.readline().strip()
        _, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert (line, process.returncode) == ("ok", 0), errors[-3000:]


def test_a_projection_runner_waits_for_the_database_and_reads_on(
    cluster: Cluster, schema: str
) -> None:
    """A runner whose reads fail while the server is down carries on once it is back,
    from the view's position: no event lost, none processed twice."""
    env = cluster.env(schema, POSTGRES_CONNECT_TIMEOUT="2")
    projected = crash_scenario.Projected(env, View)
    try:
        with Kennel(env=env) as writer:
            first = Dog("Fido")
            writer.save(first)
            projected.runner.wait(1, timeout=10)
            cluster.crash()
            time.sleep(1.5)  # the runner's subscription polls (every second): and fails
            cluster.start()
            second = Dog("Rex")
            writer.save(second)
            last = writer.recorder.max_notification_id()
            projected.runner.wait(last, timeout=20)
            assert projected.consume() == [first.id, second.id]
            assert projected.runner.view.max_tracking_id("Kennel") == last
    finally:
        projected.close()
