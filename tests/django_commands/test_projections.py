"""Projections into Django models: exactly once, failures, rebuilds, on each database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from retell.errors import PolicyError, RunnerError
from retell.persistence.records import Tracking
from retell.projection import ProjectionRunner
from retell.system import System
from retell.system.worker import Worker
from tests.django.helpers import env
from tests.django_commands.helpers import school, wait_for
from tests.django_commands.kennel.models import TrickTally
from tests.django_commands.kennel.projections import Tally, TallyView
from tests.test_system import Dog, TrainingSchool


@pytest.fixture
def runner(alias: str) -> Iterator[ProjectionRunner[TallyView]]:
    with ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias)) as running:
        yield running


def test_follows_live_into_django_models_and_rebuilds(
    alias: str, runner: ProjectionRunner[TallyView]
) -> None:
    app: Any = runner.app
    app.register("Fido")
    app.register("Rex")
    for trick in ("sit", "roll", "beg"):
        app.add_trick("Fido", trick)
    app.add_trick("Rex", "sit")
    runner.wait(app.recorder.max_notification_id())
    assert runner.view.tricks() == {"Fido": 3, "Rex": 1}
    assert [row.name for row in TrickTally.objects.using(alias)] == ["Fido", "Rex"]

    progress: list[tuple[int, int]] = []
    assert runner.rebuild(progress=lambda at, end: progress.append((at, end))) == 6
    assert progress[-1][0] == progress[-1][1] == app.recorder.max_notification_id()
    assert runner.view.tricks() == {"Fido": 3, "Rex": 1}
    app.add_trick("Rex", "beg")  # it follows again after the rebuild
    runner.wait(app.recorder.max_notification_id())
    assert runner.view.tricks() == {"Fido": 3, "Rex": 2}


def test_an_event_is_applied_once_however_often_it_is_processed(alias: str) -> None:
    with school(alias) as app:
        app.register("Fido")
        app.add_trick("Fido", "sit")
        notifications = app.notification_log.select(None, 10)
    runner = ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias))
    try:
        for _ in range(2):  # as two runners that both got it would
            for notification in notifications:
                event = runner.app.mapper.to_domain_event(notification)
                runner.projection.process_event(event, Tracking("TrainingSchool", notification.id))
        assert runner.view.tricks() == {"Fido": 1}
        assert runner.view.max_tracking_id("TrainingSchool") == notifications[-1].id
    finally:
        runner.stop()


def test_a_failing_handler_records_nothing_and_stops_the_runner(
    alias: str, runner: ProjectionRunner[TallyView]
) -> None:
    app: Any = runner.app
    app.register("Fido")
    app.add_trick("Fido", "sit")
    before = app.recorder.max_notification_id()
    runner.wait(before)
    app.add_trick("Fido", "explode")
    wait_for(lambda: runner.errors, what="the runner to stop")
    with pytest.raises(RunnerError, match="the projection stopped") as raised:
        runner.wait(app.recorder.max_notification_id())
    error = raised.value.__cause__
    assert isinstance(error, PolicyError)
    assert (error.follower, error.leader, error.position) == ("Tally", "TrainingSchool", before + 1)
    assert "ValueError: this trick cannot be counted" in str(error)
    assert runner.view.tricks() == {"Fido": 1}  # the failed event's writes were rolled back
    assert runner.view.max_tracking_id("TrainingSchool") == before


def test_reset_empties_the_models_and_the_tracking(
    alias: str, runner: ProjectionRunner[TallyView]
) -> None:
    app: Any = runner.app
    app.register("Fido")
    runner.wait(app.recorder.max_notification_id())
    runner.stop(close=False)
    runner.projection.reset_view()
    assert not TrickTally.objects.using(alias).exists()
    assert runner.view.max_tracking_id("TrainingSchool") is None
    assert Dog.create_id("Fido") in app.repository  # the events are untouched


def test_a_save_wakes_every_subscription_of_its_log_in_the_process(alias: str) -> None:
    """Another instance's save (the web's, say) wakes a worker's subscription at once."""
    received: list[tuple[float, Any]] = []
    reader, writer = school(alias), school(alias)
    with (
        reader,
        writer,
        reader.recorder.subscribe(gt=reader.recorder.max_notification_id()) as live,
    ):

        def receive() -> None:
            notification = next(live)
            received.append((time.monotonic(), notification))

        thread = threading.Thread(target=receive)
        thread.start()
        time.sleep(0.2)  # the subscription has read nothing, and sleeps
        saved = time.monotonic()
        writer.register("Fido")
        thread.join(timeout=5)
    ((at, notification),) = received
    assert notification.originator_id == Dog.create_id("Fido")
    assert at - saved < 0.5  # it would otherwise find it at its next poll, a second later


def test_a_worker_runs_projections_and_retries_a_failing_event(alias: str) -> None:
    with school(alias) as app:
        app.register("Fido")
        app.add_trick("Fido", "explode")
        app.add_trick("Fido", "sit")
    runner = ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias))
    worker = Worker(System(pipes=[]), env(alias), projections=[runner])
    worker.retry_delay = worker.lease_check_interval = 0.05
    with worker:
        wait_for(lambda: len(worker.errors) >= 2, what="a retry")  # it tries again, and again
        assert worker.states["Tally"] == "failing"
        (status,) = worker.status(count=True)
        assert (status.follower, status.kind, status.lag) == ("Tally", "projection", 2)
        assert isinstance(worker.errors[0], PolicyError)
        assert runner.view.tricks() == {"Fido": 0}
    assert worker.states["Tally"] == "stopped"


def test_a_run_of_events_is_applied_in_one_transaction(
    alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with school(alias) as app:
        app.register("Fido")
        for i in range(249):
            app.add_trick("Fido", str(i))
    runner = ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias))
    recorded: list[Tracking] = []
    insert = runner.view.insert_tracking
    monkeypatch.setattr(runner.view, "insert_tracking", lambda t: (recorded.append(t), insert(t)))
    try:
        assert runner.rebuild() == 250
        assert runner.view.tricks() == {"Fido": 249}
    finally:
        runner.stop()
    assert [t.notification_id - t.first for t in recorded] == [99, 99, 49]
    assert [b.first for b in recorded[1:]] == [a.notification_id + 1 for a in recorded[:-1]]


def test_a_failing_event_in_a_run_keeps_the_events_before_it(alias: str) -> None:
    with school(alias) as app:
        app.register("Fido")
        for trick in ("sit", "roll", "explode", "beg"):
            app.add_trick("Fido", trick)
        positions = [n.id for n in app.notification_log.select(None, 10)]
    runner = ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias))
    try:
        with pytest.raises(PolicyError) as raised:
            runner.rebuild()
        assert raised.value.position == positions[3]
        assert runner.view.tricks() == {"Fido": 2}
        assert runner.view.max_tracking_id("TrainingSchool") == positions[2]
    finally:
        runner.stop()


def test_competing_runners_apply_each_event_once(alias: str) -> None:
    """Two runners on one view, with no lease between them, while dogs learn tricks:
    their runs overlap, are refused whole, and are applied again one by one."""
    runners = [ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias)) for _ in "ab"]
    try:
        app: Any = runners[0].app
        dogs = [f"dog{i}" for i in range(4)]
        for dog in dogs:
            app.register(dog)
        for runner in runners:
            runner.start()
        for round_ in range(15):
            for dog in dogs:
                app.add_trick(dog, str(round_))
        for runner in runners:
            runner.wait(app.recorder.max_notification_id(), timeout=30)
        assert not any(runner.errors for runner in runners)
        assert runners[0].view.tricks() == dict.fromkeys(dogs, 15)
    finally:
        for runner in runners:
            runner.stop()
