"""The SQLite recorders pass the conformance suite, on a file and in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from retell.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteProcessRecorder,
    SQLiteTrackingRecorder,
)
from retell.testing import (
    AggregateRecorderSuite,
    ApplicationRecorderSuite,
    ProcessRecorderSuite,
    TrackingRecorderSuite,
)

from .sqlite_helpers import make_factory


class OnFile:
    """Each test gets a new database file in its own temporary directory."""

    @pytest.fixture(autouse=True)
    def _dbname(self, tmp_path: Path) -> None:
        self.dbname = str(tmp_path / "events.db")


class InMemory:
    """Each test gets a new in-memory database (each factory has its own)."""

    dbname = ":memory:"


class TestAggregateRecorderOnFile(OnFile, AggregateRecorderSuite):
    def create_recorder(self) -> SQLiteAggregateRecorder:
        return make_factory(self.dbname).aggregate_recorder()


class TestSnapshotRecorderOnFile(OnFile, AggregateRecorderSuite):
    def create_recorder(self) -> SQLiteAggregateRecorder:
        return make_factory(self.dbname).aggregate_recorder("snapshots")


class TestAggregateRecorderInMemory(InMemory, AggregateRecorderSuite):
    def create_recorder(self) -> SQLiteAggregateRecorder:
        return make_factory(self.dbname).aggregate_recorder()


class TestApplicationRecorderOnFile(OnFile, ApplicationRecorderSuite):
    writer_threads = 8
    saves_per_writer = 100

    def create_recorder(self) -> SQLiteApplicationRecorder:
        return make_factory(self.dbname).application_recorder()


class TestApplicationRecorderInMemory(InMemory, ApplicationRecorderSuite):
    writer_threads = 8
    saves_per_writer = 100

    def create_recorder(self) -> SQLiteApplicationRecorder:
        return make_factory(self.dbname).application_recorder()


class TestTrackingRecorderOnFile(OnFile, TrackingRecorderSuite):
    def create_recorder(self) -> SQLiteTrackingRecorder:
        return make_factory(self.dbname).tracking_recorder()


class TestTrackingRecorderInMemory(InMemory, TrackingRecorderSuite):
    def create_recorder(self) -> SQLiteTrackingRecorder:
        return make_factory(self.dbname).tracking_recorder()


class TestProcessRecorderOnFile(OnFile, ProcessRecorderSuite):
    def create_recorder(self) -> SQLiteProcessRecorder:
        return make_factory(self.dbname).process_recorder()


class TestProcessRecorderInMemory(InMemory, ProcessRecorderSuite):
    def create_recorder(self) -> SQLiteProcessRecorder:
        return make_factory(self.dbname).process_recorder()
