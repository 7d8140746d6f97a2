"""A server whose processes are stopped (SIGSTOP) keeps its connections open and answers
nothing: its host's kernel still acknowledges every byte, so no TCP timeout fires.
Calls on connections opened before must still end, within POSTGRES_RESPONSE_TIMEOUT,
with an error that says so, and the application must work again once it answers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest

from retell.errors import OperationalError
from retell.postgres.datastore import Cursor, PostgresDatastore
from tests.postgres.helpers import Dog, Kennel

from .cluster import Cluster

RESPONSE_TIMEOUT = 2.0
SLACK = 1.5
"""Seconds a failing call may take beyond its bound (a busy CI machine)."""
FREEZE_SECONDS = 12.0


def frozen_env(cluster: Cluster, schema: str, **more: str) -> dict[str, str]:
    return cluster.env(
        schema,
        POSTGRES_RESPONSE_TIMEOUT=str(RESPONSE_TIMEOUT),
        POSTGRES_STATEMENT_TIMEOUT="1",
        POSTGRES_CONNECT_TIMEOUT="2",
        POSTGRES_POOL_SIZE="8",
        **more,
    )


def datastore_of(kennel: Kennel) -> PostgresDatastore:
    datastore: PostgresDatastore = kennel.recorder._datastore  # type: ignore[attr-defined]
    return datastore


def open_idle_connections(datastore: PostgresDatastore, count: int) -> None:
    """Leave `count` open connections idle in the pool: `count` threads each hold one
    at once, then end, which gives them back."""
    together = threading.Barrier(count)

    def hold(cursor: Cursor) -> None:
        together.wait(timeout=10)

    with ThreadPoolExecutor(count) as threads:
        for future in [threads.submit(datastore.read, hold) for _ in range(count)]:
            future.result()


def fails_in_time(call: Callable[[], Any]) -> OperationalError:
    """The error `call` raises within the response timeout (and not long before it)."""
    started = time.monotonic()
    with pytest.raises(OperationalError) as caught:
        call()
    took = time.monotonic() - started
    assert RESPONSE_TIMEOUT - 0.1 <= took <= RESPONSE_TIMEOUT + SLACK, (took, caught.value)
    return caught.value


def save_and_read(kennel: Kennel, dog: Dog, in_doubt: list[UUID]) -> None:
    """A save, then a read of another aggregate, on a frozen server: both end in time."""
    error = fails_in_time(lambda: kennel.save(dog))
    in_doubt.append(dog.id)
    message = str(error)
    assert "did not answer within POSTGRES_RESPONSE_TIMEOUT=2.0 seconds" in message
    assert "may or may not have been recorded" in message and error.outcome_unknown
    error = fails_in_time(lambda: kennel.repository.get(dog.id))
    assert "did not answer within POSTGRES_RESPONSE_TIMEOUT=2.0 seconds" in str(error)
    assert "may or may not" not in str(error) and not error.outcome_unknown


@pytest.fixture
def kennel(cluster: Cluster, schema: str) -> Iterator[Kennel]:
    with Kennel(env=frozen_env(cluster, schema)) as made:
        yield made


def test_calls_on_open_connections_end_in_time_and_the_application_recovers(
    cluster: Cluster, kennel: Kennel
) -> None:
    saved = [Dog(f"before-{i}") for i in range(3)]
    in_doubt: list[UUID] = []
    with ThreadPoolExecutor(1) as worker:  # off the main thread: blocking libpq calls
        # Each thread keeps the connection of its last call; two more wait in the pool.
        kennel.save(saved[0])
        kennel.repository.get(saved[0].id)
        worker.submit(kennel.save, saved[1]).result()
        worker.submit(kennel.repository.get, saved[1].id).result()
        open_idle_connections(datastore_of(kennel), 2)
        with cluster.frozen(FREEZE_SECONDS) as thawed:
            elsewhere = worker.submit(save_and_read, kennel, Dog("frozen-worker"), in_doubt)
            save_and_read(kennel, Dog("frozen-main"), in_doubt)
            elsewhere.result()
            assert not thawed.is_set(), "the calls ended only because the server was thawed"
        # Answering again: the application works, on either thread.
        kennel.save(saved[2])
        assert kennel.repository.get(saved[2].id).name == "before-2"
        after = Dog("after")
        worker.submit(kennel.save, after).result()
        saved.append(after)
        assert worker.submit(kennel.repository.get, after.id).result().name == "after"
    for dog in saved:
        assert kennel.repository.get(dog.id).name == dog.name, "a committed save was lost"
    log = kennel.recorder.select_notifications(None, 1000)
    ids = [n.id for n in log]
    assert ids == sorted(set(ids))
    logged = {n.originator_id for n in log}
    assert {d.id for d in saved} <= logged <= {d.id for d in saved} | set(in_doubt)


def test_the_listener_gives_up_on_a_frozen_server_and_comes_back(
    cluster: Cluster, kennel: Kennel, caplog: pytest.LogCaptureFixture
) -> None:
    """The listener's NOTIFY to a frozen server ends within the bound; it then
    reconnects once the server answers, and hears other sessions' notifications."""
    heard = threading.Event()

    class Ear:
        def wake(self) -> None:
            heard.set()

    ear = Ear()
    listener = datastore_of(kennel).listener
    listener.listen("retell_fault_channel", ear.wake)
    caplog.set_level(logging.WARNING, logger="retell.postgres")
    with cluster.frozen(FREEZE_SECONDS) as thawed:
        listener.announce("retell_fault_channel")
        deadline = time.monotonic() + RESPONSE_TIMEOUT + SLACK
        while not any("did not answer" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the listener still waits for the server"
            time.sleep(0.05)
        assert not thawed.is_set()
    heard.clear()
    deadline = time.monotonic() + 15
    while not heard.is_set():  # it hears a notification once it has reconnected
        assert time.monotonic() < deadline, "the listener did not come back"
        cluster.admin("SELECT pg_notify('retell_fault_channel', '')", dbname="test")
        heard.wait(0.2)
