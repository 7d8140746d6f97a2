"""The in-memory store passes the conformance suite, and keeps ids gap-free."""

from __future__ import annotations

from uuid import uuid4

import pytest

from retell.errors import ConcurrencyError
from retell.memory import (
    MemoryAggregateRecorder,
    MemoryApplicationRecorder,
    MemoryProcessRecorder,
    MemoryTrackingRecorder,
)
from retell.testing import (
    AggregateRecorderSuite,
    ApplicationRecorderSuite,
    ProcessRecorderSuite,
    TrackingRecorderSuite,
)
from retell.testing.recorders import stored


class TestMemoryAggregateRecorder(AggregateRecorderSuite):
    def create_recorder(self) -> MemoryAggregateRecorder:
        return MemoryAggregateRecorder()


class TestMemoryApplicationRecorder(ApplicationRecorderSuite):
    writer_threads = 8
    saves_per_writer = 500

    def create_recorder(self) -> MemoryApplicationRecorder:
        return MemoryApplicationRecorder()


class TestMemoryTrackingRecorder(TrackingRecorderSuite):
    def create_recorder(self) -> MemoryTrackingRecorder:
        return MemoryTrackingRecorder()


class TestMemoryProcessRecorder(ProcessRecorderSuite):
    def create_recorder(self) -> MemoryProcessRecorder:
        return MemoryProcessRecorder()


def test_notification_ids_are_gap_free_from_one() -> None:
    recorder = MemoryApplicationRecorder()
    a = uuid4()
    assert list(recorder.insert_events([stored(a, 1), stored(a, 2)])) == [1, 2]
    with pytest.raises(ConcurrencyError):
        recorder.insert_events([stored(a, 3), stored(a, 1)])
    assert list(recorder.insert_events([stored(a, 3)])) == [3]


def test_out_of_order_versions_are_kept_sorted() -> None:
    recorder = MemoryAggregateRecorder()
    a = uuid4()
    recorder.insert_events([stored(a, 5), stored(a, 2)])
    recorder.insert_events([stored(a, 3)])
    assert [e.originator_version for e in recorder.select_events(a)] == [2, 3, 5]
