"""The conformance suite for stores: what every recorder must do, as pytest tests.

Subclass a suite in your store's tests and say how to make a fresh, empty recorder::

    from retell.testing import ApplicationRecorderSuite

    class TestMyApplicationRecorder(ApplicationRecorderSuite):
        def create_recorder(self):
            return MyApplicationRecorder(...)

The suites close each recorder after its test. They never assume notification ids
are gap-free (a rolled-back write may leave a gap on a database), only that they
are unique and strictly increasing in the order a reader reads them.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from retell.errors import ConcurrencyError, IntegrityError, WaitTimeout
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from retell.persistence.records import Notification, StoredEvent, Tracking

TOPIC_A = "tests.events:Dog.Registered"
TOPIC_B = "tests.events:Dog.TrickAdded"


def stored(originator_id: UUID, version: int, topic: str = TOPIC_A) -> StoredEvent:
    """A stored event whose state names its coordinates, so mix-ups show."""
    return StoredEvent(originator_id, version, topic, f"{originator_id}/{version}".encode())


def coordinates(events: list[Any]) -> list[tuple[UUID, int, str, bytes]]:
    """Records as plain tuples: a Notification equals the StoredEvent it was made from."""
    return [(e.originator_id, e.originator_version, e.topic, e.state) for e in events]


class AggregateRecorderSuite:
    """Events by aggregate and version: inserted atomically, selected by range."""

    @abstractmethod
    def create_recorder(self) -> Any:
        """A new recorder over empty storage."""

    @pytest.fixture
    def recorder(self) -> Iterator[Any]:
        recorder = self.create_recorder()
        try:
            yield recorder
        finally:
            recorder.close()

    def test_selects_nothing_for_an_unknown_aggregate(self, recorder: AggregateRecorder) -> None:
        assert recorder.select_events(uuid4()) == []

    def test_selects_what_was_inserted_in_version_order(self, recorder: AggregateRecorder) -> None:
        a, b = uuid4(), uuid4()
        recorder.insert_events([stored(a, 1), stored(b, 1)])
        recorder.insert_events([stored(a, 2, TOPIC_B), stored(a, 3, TOPIC_B)])
        events = recorder.select_events(a)
        expected = [stored(a, 1), stored(a, 2, TOPIC_B), stored(a, 3, TOPIC_B)]
        assert coordinates(events) == coordinates(expected)
        assert coordinates(recorder.select_events(b)) == coordinates([stored(b, 1)])

    def test_selects_by_version_range_order_and_limit(self, recorder: AggregateRecorder) -> None:
        a = uuid4()
        recorder.insert_events([stored(a, v) for v in range(1, 6)])

        def versions(**kwargs: Any) -> list[int]:
            return [e.originator_version for e in recorder.select_events(a, **kwargs)]

        assert versions(gt=2) == [3, 4, 5]
        assert versions(lte=2) == [1, 2]
        assert versions(gt=1, lte=3) == [2, 3]
        assert versions(desc=True) == [5, 4, 3, 2, 1]
        assert versions(desc=True, limit=2) == [5, 4]
        assert versions(lte=3, desc=True, limit=1) == [3]
        assert versions(limit=2) == [1, 2]
        assert versions(gt=5) == []

    def test_a_taken_version_is_a_concurrency_error(self, recorder: AggregateRecorder) -> None:
        a = uuid4()
        recorder.insert_events([stored(a, 1)])
        with pytest.raises(ConcurrencyError, match=str(a)):
            recorder.insert_events([stored(a, 1, TOPIC_B)])
        assert coordinates(recorder.select_events(a)) == coordinates([stored(a, 1)])

    def test_a_save_with_a_conflict_records_nothing(self, recorder: AggregateRecorder) -> None:
        a, b = uuid4(), uuid4()
        recorder.insert_events([stored(a, 1)])
        with pytest.raises(ConcurrencyError):
            recorder.insert_events([stored(b, 1), stored(a, 2), stored(a, 1)])
        assert recorder.select_events(b) == []
        assert coordinates(recorder.select_events(a)) == coordinates([stored(a, 1)])

    def test_a_version_twice_in_one_save_is_a_concurrency_error(
        self, recorder: AggregateRecorder
    ) -> None:
        a = uuid4()
        with pytest.raises(ConcurrencyError):
            recorder.insert_events([stored(a, 1), stored(a, 1, TOPIC_B)])
        assert recorder.select_events(a) == []

    def test_concurrent_saves_of_one_version_let_exactly_one_win(
        self, recorder: AggregateRecorder
    ) -> None:
        a = uuid4()
        recorder.insert_events([stored(a, 1)])
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def save(i: int) -> None:
            barrier.wait()
            try:
                recorder.insert_events([stored(a, 2, f"topic:{i}")])
                outcomes.append("saved")
            except ConcurrencyError:
                outcomes.append("conflict")

        threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["conflict"] * 7 + ["saved"]
        assert len(recorder.select_events(a)) == 2


class ApplicationRecorderSuite(AggregateRecorderSuite):
    """Also a notification log: unique, strictly increasing positions readers can trust."""

    writer_threads = 4
    saves_per_writer = 60

    def test_an_empty_log(self, recorder: ApplicationRecorder) -> None:
        assert recorder.max_notification_id() is None
        assert recorder.select_notifications(1, 10) == []
        assert recorder.select_notifications(None, 10) == []

    def test_insert_returns_increasing_notification_ids(
        self, recorder: ApplicationRecorder
    ) -> None:
        a, b = uuid4(), uuid4()
        first = list(recorder.insert_events([stored(a, 1), stored(b, 1)]))
        second = list(recorder.insert_events([stored(a, 2)]))
        assert len(first) == 2 and len(second) == 1
        assert first[0] < first[1] < second[0]
        assert recorder.max_notification_id() == second[0]
        log = recorder.select_notifications(None, 10)
        assert [n.id for n in log] == first + second
        assert [(n.originator_id, n.originator_version) for n in log] == [(a, 1), (b, 1), (a, 2)]
        assert all(isinstance(n, Notification) for n in log)
        assert log[0].state == stored(a, 1).state and log[0].topic == TOPIC_A

    def test_select_notifications_start_limit_stop(self, recorder: ApplicationRecorder) -> None:
        ids = self._fill(recorder, 10)

        def selected(start: int | None, limit: int, **kwargs: Any) -> list[int]:
            return [n.id for n in recorder.select_notifications(start, limit, **kwargs)]

        assert selected(None, 3) == ids[:3]
        assert selected(ids[2], 3) == ids[2:5]
        assert selected(ids[2], 3, inclusive_of_start=False) == ids[3:6]
        assert selected(ids[2], 100, stop=ids[6]) == ids[2:7]
        assert selected(ids[9], 10) == ids[9:]
        assert selected(ids[9] + 1, 10) == []
        assert selected(ids[0], 0) == []
        assert selected(0, 2) == ids[:2]
        assert selected(0, 2, inclusive_of_start=False) == ids[:2]
        assert selected(ids[0] - 1, 1, inclusive_of_start=False) == ids[:1]

    def test_select_notifications_by_topic(self, recorder: ApplicationRecorder) -> None:
        a = uuid4()
        topics = [TOPIC_A, TOPIC_B, TOPIC_B, "tests.events:Other", TOPIC_B]
        ids = list(recorder.insert_events([stored(a, v + 1, t) for v, t in enumerate(topics)]))
        b_ids = [i for i, t in zip(ids, topics, strict=True) if t == TOPIC_B]
        assert [n.id for n in recorder.select_notifications(None, 10, topics=[TOPIC_B])] == b_ids
        assert [n.id for n in recorder.select_notifications(None, 2, topics=[TOPIC_B])] == b_ids[:2]
        two = recorder.select_notifications(None, 10, topics=[TOPIC_A, "tests.events:Other"])
        assert [n.topic for n in two] == [TOPIC_A, "tests.events:Other"]
        after = recorder.select_notifications(
            ids[1], 10, topics=[TOPIC_B], inclusive_of_start=False
        )
        assert [n.id for n in after] == b_ids[1:]
        assert recorder.select_notifications(None, 10, topics=["nothing:Here"]) == []

    def test_a_failed_save_adds_nothing_to_the_log(self, recorder: ApplicationRecorder) -> None:
        a, b = uuid4(), uuid4()
        recorder.insert_events([stored(a, 1)])
        with pytest.raises(ConcurrencyError):
            recorder.insert_events([stored(b, 1), stored(a, 1)])
        assert [n.originator_id for n in recorder.select_notifications(None, 10)] == [a]
        later = list(recorder.insert_events([stored(b, 1)]))
        assert [n.id for n in recorder.select_notifications(None, 10)][-1] == later[0]

    def test_concurrent_writers_and_a_tailing_reader(self, recorder: ApplicationRecorder) -> None:
        """The ordering property: what a tailing reader saw equals the final log, in order."""
        done = threading.Event()
        errors: list[BaseException] = []
        seen: list[int] = []

        def write() -> None:
            try:
                for _ in range(self.saves_per_writer):
                    a = uuid4()
                    recorder.insert_events([stored(a, 1), stored(a, 2, TOPIC_B)])
            except BaseException as error:
                errors.append(error)

        def tail() -> None:
            last = 0
            try:
                while True:
                    finished = done.is_set()
                    page = recorder.select_notifications(last + 1, 50)
                    for notification in page:
                        assert notification.id > last, "positions went backwards"
                        last = notification.id
                        seen.append(notification.id)
                    if finished and not page:
                        return
            except BaseException as error:
                errors.append(error)

        writers = [threading.Thread(target=write) for _ in range(self.writer_threads)]
        reader = threading.Thread(target=tail)
        reader.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        reader.join(timeout=60)
        assert not errors, errors
        final = [n.id for n in recorder.select_notifications(None, 1_000_000)]
        assert len(final) == self.writer_threads * self.saves_per_writer * 2
        assert seen == final, "the tailing reader skipped or reordered events"

    def test_subscription_gives_past_then_new_notifications(
        self, recorder: ApplicationRecorder
    ) -> None:
        a = uuid4()
        ids = list(recorder.insert_events([stored(a, 1), stored(a, 2)]))
        subscription = recorder.subscribe(gt=ids[0])
        received: list[int] = []

        def consume() -> None:
            for notification in subscription:
                received.append(notification.id)

        consumer = threading.Thread(target=consume)
        consumer.start()
        more = list(recorder.insert_events([stored(a, 3)]))
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        subscription.stop()
        consumer.join(timeout=10)
        assert not consumer.is_alive(), "stop() did not end the subscription"
        assert received == [ids[1], more[0]]

    def test_subscription_by_topic(self, recorder: ApplicationRecorder) -> None:
        a = uuid4()
        ids = list(recorder.insert_events([stored(a, 1), stored(a, 2, TOPIC_B)]))
        with recorder.subscribe(topics=[TOPIC_B]) as subscription:
            assert next(subscription).id == ids[1]

    @staticmethod
    def _fill(recorder: ApplicationRecorder, count: int) -> list[int]:
        a = uuid4()
        return list(recorder.insert_events([stored(a, v) for v in range(1, count + 1)]))


class TrackingRecorderSuite:
    """Per-leader positions that only move forward."""

    @abstractmethod
    def create_recorder(self) -> Any:
        """A new recorder over empty storage."""

    @pytest.fixture
    def tracking_recorder(self) -> Iterator[Any]:
        recorder = self.create_recorder()
        try:
            yield recorder
        finally:
            recorder.close()

    def test_positions_per_leader(self, tracking_recorder: TrackingRecorder) -> None:
        recorder = tracking_recorder
        assert recorder.max_tracking_id("Leader") is None
        assert not recorder.has_tracking_id("Leader", 1)
        assert recorder.has_tracking_id("Leader", None)
        recorder.insert_tracking(Tracking("Leader", 1))
        recorder.insert_tracking(Tracking("Leader", 5))
        recorder.insert_tracking(Tracking("Other", 2))
        assert recorder.max_tracking_id("Leader") == 5
        assert recorder.max_tracking_id("Other") == 2
        assert recorder.has_tracking_id("Leader", 5)
        assert recorder.has_tracking_id("Leader", 3)
        assert not recorder.has_tracking_id("Leader", 6)

    def test_positions_never_move_back(self, tracking_recorder: TrackingRecorder) -> None:
        recorder = tracking_recorder
        recorder.insert_tracking(Tracking("Leader", 3))
        with pytest.raises(IntegrityError):
            recorder.insert_tracking(Tracking("Leader", 3))
        with pytest.raises(IntegrityError):
            recorder.insert_tracking(Tracking("Leader", 2))
        assert recorder.max_tracking_id("Leader") == 3

    def test_a_run_is_refused_if_it_overlaps(self, tracking_recorder: TrackingRecorder) -> None:
        recorder = tracking_recorder
        recorder.insert_tracking(Tracking("Leader", 4, first_id=1))
        with pytest.raises(IntegrityError):
            recorder.insert_tracking(Tracking("Leader", 9, first_id=3))
        recorder.insert_tracking(Tracking("Leader", 9, first_id=5))
        assert recorder.max_tracking_id("Leader") == 9

    def test_wait_returns_once_processed(self, tracking_recorder: TrackingRecorder) -> None:
        recorder = tracking_recorder
        timer = threading.Timer(0.1, recorder.insert_tracking, [Tracking("Leader", 4)])
        timer.start()
        recorder.wait("Leader", 4, timeout=10)
        timer.join()
        assert recorder.max_tracking_id("Leader") == 4

    def test_wait_times_out(self, tracking_recorder: TrackingRecorder) -> None:
        with pytest.raises(WaitTimeout, match="Leader"):
            tracking_recorder.wait("Leader", 1, timeout=0.2)


class ProcessRecorderSuite(ApplicationRecorderSuite, TrackingRecorderSuite):
    """New events and a tracking position, recorded together or not at all."""

    def test_events_and_tracking_together(self, recorder: ProcessRecorder) -> None:
        a = uuid4()
        ids = list(recorder.insert_events([stored(a, 1)], tracking=Tracking("Leader", 7)))
        assert recorder.max_tracking_id("Leader") == 7
        assert [n.id for n in recorder.select_notifications(None, 10)] == ids

    def test_a_processed_position_records_no_events(self, recorder: ProcessRecorder) -> None:
        a, b = uuid4(), uuid4()
        recorder.insert_events([stored(a, 1)], tracking=Tracking("Leader", 7))
        with pytest.raises(IntegrityError):
            recorder.insert_events([stored(b, 1)], tracking=Tracking("Leader", 7))
        assert recorder.select_events(b) == []
        assert len(recorder.select_notifications(None, 10)) == 1

    def test_an_overlapping_run_records_no_events(self, recorder: ProcessRecorder) -> None:
        a, b = uuid4(), uuid4()
        recorder.insert_events([stored(a, 1)], tracking=Tracking("Leader", 7, first_id=2))
        with pytest.raises(IntegrityError):
            recorder.insert_events([stored(b, 1)], tracking=Tracking("Leader", 12, first_id=7))
        assert recorder.select_events(b) == []
        assert recorder.max_tracking_id("Leader") == 7
        recorder.insert_events([stored(b, 1)], tracking=Tracking("Leader", 12, first_id=8))
        assert recorder.max_tracking_id("Leader") == 12

    def test_an_event_conflict_records_no_tracking(self, recorder: ProcessRecorder) -> None:
        a = uuid4()
        recorder.insert_events([stored(a, 1)], tracking=Tracking("Leader", 1))
        with pytest.raises(ConcurrencyError):
            recorder.insert_events([stored(a, 1)], tracking=Tracking("Leader", 2))
        assert recorder.max_tracking_id("Leader") == 1

    def test_tracking_without_events(self, recorder: ProcessRecorder) -> None:
        assert list(recorder.insert_events([], tracking=Tracking("Leader", 3))) == []
        assert recorder.max_tracking_id("Leader") == 3
        assert recorder.select_notifications(None, 10) == []
