"""Projections into a view, run live by a ProjectionRunner, and rebuilt."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from uuid import UUID

import pytest

from retell.domain.events import DomainEvent
from retell.errors import ConfigurationError, RetellError, RunnerError, WaitTimeout
from retell.memory import MemoryApplicationRecorder, MemoryTrackingRecorder
from retell.persistence.records import Tracking
from retell.projection import Projection, ProjectionRunner
from tests.dogschool import Dog, TrainingSchool


class TrickCountsView(MemoryTrackingRecorder):
    """Tricks per dog, and the tracking position, changed together under one lock."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[UUID] = Counter()

    def add_trick(self, dog_id: UUID, tracking: Tracking) -> None:
        with self._lock:
            self._check_tracking(tracking)
            self.counts[dog_id] += 1
            self._positions[tracking.application_name] = tracking.notification_id

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()


class TrickCounts(Projection[TrickCountsView]):
    topics = (Dog.TrickAdded,)

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        self.view.add_trick(domain_event.originator_id, tracking)

    def reset_view(self) -> None:
        self.view.clear()


def test_a_projection_follows_live_and_waits_for_positions() -> None:
    with ProjectionRunner(TrainingSchool, TrickCounts, TrickCountsView) as runner:
        school: Any = runner.app
        school.register("Fido")
        last = None
        for trick in ["roll", "sit", "beg"]:
            school.add_trick("Fido", trick)
            last = school.recorder.max_notification_id()
            runner.wait(last, timeout=5)
            assert runner.view.counts[Dog.create_id("Fido")] == last - 1
        assert runner.view.max_tracking_id("TrainingSchool") == 4
        assert runner.projection.name == "TrickCounts"


def test_wait_times_out_when_the_position_never_comes() -> None:
    runner = ProjectionRunner(TrainingSchool, TrickCounts, TrickCountsView)
    with runner, pytest.raises(WaitTimeout):
        runner.wait(99, timeout=0.2)


def test_rebuild_replays_everything_with_progress() -> None:
    runner = ProjectionRunner(TrainingSchool, TrickCounts, TrickCountsView)
    school: Any = runner.app
    school.register("Fido")
    for i in range(1200):
        school.add_trick("Fido", f"trick {i}")
    runner.start()
    runner.wait(1201, timeout=10)
    runner.view.counts[Dog.create_id("Fido")] += 5  # corrupt the view
    reported: list[tuple[int, int]] = []
    assert runner.rebuild(progress=lambda at, end: reported.append((at, end))) == 1200
    assert runner.view.counts[Dog.create_id("Fido")] == 1200
    assert reported[-1] == (1201, 1201) and len(reported) >= 3
    school.add_trick("Fido", "after")
    runner.wait(1202, timeout=5)
    assert runner.view.counts[Dog.create_id("Fido")] == 1201
    runner.stop()


def test_a_failing_projection_is_reported_by_wait() -> None:
    class Broken(TrickCounts):
        def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
            raise ValueError("bad view")

    with ProjectionRunner(TrainingSchool, Broken, TrickCountsView) as runner:
        school: Any = runner.app
        school.register("Fido")
        school.add_trick("Fido", "roll")
        done = threading.Event()
        for _ in range(200):
            if runner.errors:
                done.set()
                break
            done.wait(0.01)
        with pytest.raises(RunnerError, match="bad view"):
            runner.wait(2, timeout=1)


def test_views_must_belong_to_the_store_and_support_rebuilds() -> None:
    class NotAView(MemoryApplicationRecorder):
        pass

    with pytest.raises(ConfigurationError, match="must subclass the tracking recorder"):
        ProjectionRunner(TrainingSchool, TrickCounts, NotAView)  # type: ignore[type-var]

    class NoReset(Projection[TrickCountsView]):
        def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
            pass

    runner = ProjectionRunner(TrainingSchool, NoReset, TrickCountsView)
    with pytest.raises(RetellError, match="implement reset_view"):
        runner.rebuild()
    runner.stop()
    started = ProjectionRunner(TrainingSchool, TrickCounts, TrickCountsView)
    with started, pytest.raises(RunnerError, match="already started"):
        started.start()
