"""The Django store passes retell's conformance suite on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from uuid import uuid4

import pytest

from retell.django.recorders import (
    DjangoAggregateRecorder,
    DjangoApplicationRecorder,
    DjangoProcessRecorder,
    DjangoTrackingRecorder,
)
from retell.django.tables import SNAPSHOTS
from retell.testing import (
    AggregateRecorderSuite,
    ApplicationRecorderSuite,
    ProcessRecorderSuite,
    TrackingRecorderSuite,
)
from tests.django import services


class OnAlias:
    """Each test gets a new application name: empty storage in the shared tables."""

    alias = "default"

    @pytest.fixture(autouse=True)
    def _database(self) -> None:
        services.prepare(self.alias)
        self.name = f"T{uuid4().hex[:12]}"


class OnSQLite(OnAlias):
    alias = "default"


@pytest.mark.postgres
class OnPostgres(OnAlias):
    alias = "postgres"


@pytest.mark.mariadb
class OnMariaDB(OnAlias):
    alias = "mariadb"


class Aggregates(AggregateRecorderSuite):
    def create_recorder(self) -> DjangoAggregateRecorder:
        return DjangoAggregateRecorder(self.alias, self.name)  # type: ignore[attr-defined]


class Snapshots(AggregateRecorderSuite):
    def create_recorder(self) -> DjangoAggregateRecorder:
        return DjangoAggregateRecorder(self.alias, self.name, SNAPSHOTS)  # type: ignore[attr-defined]


class Applications(ApplicationRecorderSuite):
    def create_recorder(self) -> DjangoApplicationRecorder:
        return DjangoApplicationRecorder(self.alias, self.name)  # type: ignore[attr-defined]


class Trackings(TrackingRecorderSuite):
    def create_recorder(self) -> DjangoTrackingRecorder:
        return DjangoTrackingRecorder(self.alias, self.name)  # type: ignore[attr-defined]


class Processes(ProcessRecorderSuite):
    def create_recorder(self) -> DjangoProcessRecorder:
        return DjangoProcessRecorder(self.alias, self.name)  # type: ignore[attr-defined]


class TestAggregatesOnSQLite(OnSQLite, Aggregates): ...


class TestSnapshotsOnSQLite(OnSQLite, Snapshots): ...


class TestApplicationsOnSQLite(OnSQLite, Applications): ...


class TestTrackingOnSQLite(OnSQLite, Trackings): ...


class TestProcessesOnSQLite(OnSQLite, Processes): ...


class TestAggregatesOnPostgres(OnPostgres, Aggregates): ...


class TestSnapshotsOnPostgres(OnPostgres, Snapshots): ...


class TestApplicationsOnPostgres(OnPostgres, Applications): ...


class TestTrackingOnPostgres(OnPostgres, Trackings): ...


class TestProcessesOnPostgres(OnPostgres, Processes): ...


class TestAggregatesOnMariaDB(OnMariaDB, Aggregates): ...


class TestSnapshotsOnMariaDB(OnMariaDB, Snapshots): ...


class TestApplicationsOnMariaDB(OnMariaDB, Applications): ...


class TestTrackingOnMariaDB(OnMariaDB, Trackings): ...


class TestProcessesOnMariaDB(OnMariaDB, Processes): ...


class OnPlainSQLite(OnAlias):
    """SQLite with Django's default options: the store's own transactions still queue."""

    alias = "plain_sqlite"


class TestApplicationsOnPlainSQLite(OnPlainSQLite, Applications): ...


class TestProcessesOnPlainSQLite(OnPlainSQLite, Processes): ...
