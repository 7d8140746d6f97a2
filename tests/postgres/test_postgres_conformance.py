"""The PostgreSQL recorders pass the conformance suite, each test in a schema of its own."""

from __future__ import annotations

import pytest

from retell.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from retell.testing import (
    AggregateRecorderSuite,
    ApplicationRecorderSuite,
    ProcessRecorderSuite,
    TrackingRecorderSuite,
)

from .helpers import make_factory


class InSchema:
    """Each test's recorder keeps its tables in the test's own schema."""

    @pytest.fixture(autouse=True)
    def _schema(self, schema: str) -> None:
        self.schema = schema


class TestAggregateRecorder(InSchema, AggregateRecorderSuite):
    def create_recorder(self) -> PostgresAggregateRecorder:
        return make_factory(self.schema).aggregate_recorder()


class TestSnapshotRecorder(InSchema, AggregateRecorderSuite):
    def create_recorder(self) -> PostgresAggregateRecorder:
        return make_factory(self.schema).aggregate_recorder("snapshots")


class TestApplicationRecorder(InSchema, ApplicationRecorderSuite):
    writer_threads = 8
    saves_per_writer = 60

    def create_recorder(self) -> PostgresApplicationRecorder:
        return make_factory(self.schema).application_recorder()


class TestTrackingRecorder(InSchema, TrackingRecorderSuite):
    def create_recorder(self) -> PostgresTrackingRecorder:
        recorder = make_factory(self.schema).tracking_recorder()
        assert isinstance(recorder, PostgresTrackingRecorder)
        return recorder


class TestProcessRecorder(InSchema, ProcessRecorderSuite):
    writer_threads = 8
    saves_per_writer = 60

    def create_recorder(self) -> PostgresProcessRecorder:
        return make_factory(self.schema).process_recorder()
