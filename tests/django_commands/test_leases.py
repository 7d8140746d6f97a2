"""Leases on the Django store: exclusive, released with their session, lost when it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from retell.django.factory import Factory
from retell.django.leases import (
    AdvisoryLease,
    ConnectionLease,
    NamedLockLease,
    dedicated_connection,
    lease,
)
from retell.errors import OperationalError
from retell.persistence.leases import FileLease, Lease, ProcessLocalLease
from retell.system.worker import Worker
from tests.django import services
from tests.django.helpers import env
from tests.django_commands.helpers import wait_for
from tests.test_system import TrainingSchool
from tests.worker_system import system


@pytest.fixture
def leases() -> Iterator[list[Lease]]:
    made: list[Lease] = []
    yield made
    for each in made:
        each.release()


def make(alias: str, leases: list[Lease], name: str = "retell-follower:Counters") -> Lease:
    made = TrainingSchool(env=env(alias)).factory.lease(name)
    leases.append(made)
    return made


@pytest.mark.parametrize(
    ("alias", "kind"),
    [
        ("default", FileLease),
        pytest.param("postgres", AdvisoryLease, marks=pytest.mark.postgres),
        pytest.param("mariadb", NamedLockLease, marks=pytest.mark.mariadb),
    ],
)
def test_one_holder_at_a_time(alias: str, kind: type[Lease], leases: list[Lease]) -> None:
    services.prepare(alias)
    first, second = make(alias, leases), make(alias, leases)
    other = make(alias, leases, "retell-projection:Counters")
    assert isinstance(first, kind)
    assert first.acquire() and first.acquire()  # taking it again is harmless
    assert not second.acquire()
    assert other.acquire()  # another name is another lease
    if isinstance(first, ConnectionLease):  # asks the lease's session
        assert first.is_held() and not second.is_held()
    first.release()
    assert second.acquire()
    if isinstance(first, ConnectionLease):
        assert not first.is_held()


def test_the_sqlite_lease_is_a_file_beside_the_database(leases: list[Lease]) -> None:
    services.prepare("default")
    held = make("default", leases, "retell-projection:Tally")
    assert isinstance(held, FileLease)
    database = str(connections["default"].settings_dict["NAME"])
    assert held.path == f"{database}.retell-projection-Tally.lease"


def test_in_memory_sqlite_has_a_process_local_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {**connections.settings["default"], "NAME": ":memory:"}
    monkeypatch.setitem(connections.settings, "in_memory", settings)
    try:
        assert isinstance(lease("in_memory", "x"), ProcessLocalLease)
    finally:
        del connections["in_memory"]


def session_of(held: Any) -> int:
    """The server's id of the session that holds the lease."""
    with held._connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()"
            if held._connection.vendor == "postgresql"
            else "SELECT CONNECTION_ID()"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize(
    ("alias", "kill"),
    [
        pytest.param("postgres", "SELECT pg_terminate_backend(%s)", marks=pytest.mark.postgres),
        pytest.param("mariadb", "KILL %s", marks=pytest.mark.mariadb),
    ],
)
def test_a_lost_session_is_noticed_and_frees_the_lease(
    alias: str, kill: str, leases: list[Lease]
) -> None:
    services.prepare(alias)
    held, standby = make(alias, leases), make(alias, leases)
    assert held.acquire() and not standby.acquire()
    with connections[alias].cursor() as cursor:
        cursor.execute(kill, [session_of(held)])
    assert not held.is_held()
    assert standby.acquire()
    assert not held.acquire()  # it must wait its turn, like any standby


@pytest.mark.postgres
def test_the_lease_connection_is_never_pooled(monkeypatch: pytest.MonkeyPatch) -> None:
    services.prepare("postgres")
    options = {**connections.settings["postgres"].get("OPTIONS", {}), "pool": True}
    monkeypatch.setitem(connections.settings["postgres"], "OPTIONS", options)
    connection = dedicated_connection("postgres")
    assert "pool" not in connection.settings_dict["OPTIONS"]
    assert connection.pool is None


def test_the_factory_gives_leases() -> None:
    factory = TrainingSchool(env=env()).factory
    assert isinstance(factory, Factory)
    assert factory.lease("x").name == "x"


@pytest.mark.postgres
def test_an_unreachable_database_is_a_retell_error(monkeypatch: pytest.MonkeyPatch) -> None:
    services.prepare("postgres")
    monkeypatch.setitem(connections.settings["postgres"], "PORT", "1")
    with pytest.raises(OperationalError, match="database 'postgres'"):
        lease("postgres", "x").acquire()


class FlakyLease(ProcessLocalLease):
    """Fails to ask the database twice, then works."""

    failures = 2

    def acquire(self) -> bool:
        if FlakyLease.failures:
            FlakyLease.failures -= 1
            raise OperationalError("the database is restarting")
        return super().acquire()


def test_a_worker_keeps_asking_for_a_lease_while_the_database_is_away(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    services.prepare("default")
    monkeypatch.setattr(Factory, "lease", lambda self, name: FlakyLease(name))
    worker = Worker(system, env())
    worker.takeover_interval = 0.05
    with worker:
        wait_for(lambda: worker.states.get("Counters") == "active", what="the lease")
    assert FlakyLease.failures == 0
    assert "Counters: cannot ask for its lease (the database is restarting)" in caplog.text
