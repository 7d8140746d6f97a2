"""Process applications, systems and runners (in memory; stores repeat this in their tests)."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from retell import Aggregate, event
from retell.domain.events import DomainEvent
from retell.errors import PolicyError, RetellError, RunnerError, SystemDefinitionError
from retell.persistence.records import Tracking
from retell.system import (
    MultiThreadedRunner,
    ProcessApplication,
    ProcessingEvent,
    SingleThreadedRunner,
    System,
)
from tests.dogschool import Dog, TrainingSchool


class Counter(Aggregate):
    @event("Started")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/counters/{name}")

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


class Counters(ProcessApplication):
    """Counts tricks per dog. Uses singledispatchmethod with string annotations."""

    @singledispatchmethod
    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        pass

    @policy.register
    def _(self, domain_event: Dog.TrickAdded, processing_event: ProcessingEvent) -> None:
        self.count_trick(domain_event, processing_event)

    def count_trick(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        counter_id = Counter.create_id(str(domain_event.originator_id))
        try:
            counter = self.repository.get(counter_id)
        except RetellError:
            counter = Counter(str(domain_event.originator_id))
        counter.increment()
        processing_event.collect_events(counter)

    def count(self, dog_id: UUID) -> int:
        try:
            return int(self.repository.get(Counter.create_id(str(dog_id))).count)
        except RetellError:
            return 0


class Tally(ProcessApplication):
    """Follows Counters: counts the increments it sees (a chain of two followers)."""

    topics = (Counter.Incremented,)

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.seen: list[Any] = []

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        self.seen.append(domain_event)


def fido() -> UUID:
    return Dog.create_id("Fido")


def test_system_shape() -> None:
    system = System(pipes=[[TrainingSchool, Counters, Tally], [TrainingSchool, Tally]])
    assert system.order == ["TrainingSchool", "Counters", "Tally"]
    assert system.leaders == ["TrainingSchool", "Counters"]
    assert system.followers == ["Counters", "Tally"]
    assert system.processors == ["Counters"]
    assert system.follows["Tally"] == ["Counters", "TrainingSchool"]
    assert system.get_app_class("Counters") is Counters


@pytest.mark.parametrize(
    ("pipes", "message"),
    [
        ([[TrainingSchool, Counters, TrainingSchool]], "only a ProcessApplication can follow"),
        ([[]], "empty"),
        ([[TrainingSchool, "Counters"]], "Application classes"),
    ],
)
def test_bad_systems_are_refused(pipes: Any, message: str) -> None:
    with pytest.raises(SystemDefinitionError, match=message):
        System(pipes=pipes)


def test_two_classes_with_one_name_are_refused() -> None:
    class Other(ProcessApplication):
        name = "Counters"

    with pytest.raises(SystemDefinitionError, match="both named 'Counters'"):
        System(pipes=[[TrainingSchool, Counters], [TrainingSchool, Other]])


def test_single_threaded_runner_processes_before_save_returns(store_env: dict[str, str]) -> None:
    system = System(pipes=[[TrainingSchool, Counters, Tally]])
    with SingleThreadedRunner(system, store_env) as runner:
        school = runner.get(TrainingSchool)
        school.register("Fido")
        school.add_trick("Fido", "roll")
        school.add_trick("Fido", "sit")
        counters = runner.get(Counters)
        assert counters.count(fido()) == 2
        assert [type(e) for e in runner.get(Tally).seen] == [Counter.Incremented] * 2
        assert counters.recorder.max_tracking_id("TrainingSchool") == 3
        # Tally reads only Incremented events: its position is that of the last one.
        tally = runner.get(Tally)
        increments = counters.notification_log.select(1, 10, topics=tally._topic_names)
        assert tally.recorder.max_tracking_id("Counters") == increments[-1].id


def test_correlation_and_causation(store_env: dict[str, str]) -> None:
    system = System(pipes=[[TrainingSchool, Counters, Tally]])
    with SingleThreadedRunner(system, store_env) as runner:
        school = runner.get(TrainingSchool)
        school.register("Fido")
        school.add_trick("Fido", "roll")
        (increment,) = runner.get(Tally).seen
        added = school.repository.events.get(fido())[1]
        assert added.correlation_id is None and added.causation_id is None
        assert increment.causation_id == f"{fido()}/2" == added.identity
        assert increment.correlation_id == added.identity
        counters = runner.get(Counters)
        stored = counters.events.get(increment.originator_id)
        assert stored[-1].causation_id == increment.causation_id


def test_runner_errors() -> None:
    system = System(pipes=[[TrainingSchool, Counters]])
    runner = SingleThreadedRunner(system)
    runner.start()
    try:
        with pytest.raises(RunnerError, match="already started"):
            runner.start()
        with pytest.raises(RunnerError, match="Tally is not in this system"):
            runner.get(Tally)
    finally:
        runner.stop()
    runner.stop()
    with pytest.raises(RunnerError, match="stopped and its applications are closed"):
        runner.get(TrainingSchool)


def test_unknown_leader_and_follower_ahead_of_its_leader() -> None:
    counters = Counters()
    with pytest.raises(RetellError, match="does not follow 'Nobody'"):
        counters.pull_and_process("Nobody")
    school = TrainingSchool()
    school.register("Fido")
    counters.follow("TrainingSchool", school.notification_log)
    counters.recorder.insert_tracking(Tracking("TrainingSchool", 5))
    with pytest.raises(RetellError, match="up to position 5, but that log ends at 1"):
        counters.pull_and_process("TrainingSchool")


def test_pull_and_process_range_and_exactly_once(store_env: dict[str, str]) -> None:
    school, counters = TrainingSchool(env=store_env), Counters(env=store_env)
    counters.follow("TrainingSchool", school.notification_log)
    school.register("Fido")
    for trick in "abcd":
        school.add_trick("Fido", trick)
    assert counters.pull_and_process("TrainingSchool", stop=3) == 3
    assert counters.count(fido()) == 2
    assert counters.pull_and_process("TrainingSchool") == 2
    assert counters.count(fido()) == 4
    # Asking again, even from the start, processes nothing twice.
    assert counters.pull_and_process("TrainingSchool", start=1) == 0
    assert counters.count(fido()) == 4


class Fragile(Counters):
    name = "Counters"
    fail_on = "boom"

    @singledispatchmethod
    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        pass

    @policy.register
    def _(self, domain_event: Dog.TrickAdded, processing_event: ProcessingEvent) -> None:
        if domain_event.trick == self.fail_on:
            raise ValueError("cannot count that")
        self.count_trick(domain_event, processing_event)


class Watcher(ProcessApplication):
    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.seen: list[int] = []

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        self.seen.append(processing_event.tracking.notification_id)


def test_a_failing_policy_is_reported_and_others_still_process(
    store_env: dict[str, str],
) -> None:
    system = System(pipes=[[TrainingSchool, Fragile], [TrainingSchool, Watcher]])
    with SingleThreadedRunner(system, store_env) as runner:
        school = runner.get(TrainingSchool)
        school.register("Fido")
        with pytest.raises(PolicyError, match="Counters failed to process position 2") as info:
            school.add_trick("Fido", "boom")
        assert info.value.position == 2 and info.value.leader == "TrainingSchool"
        assert isinstance(info.value.__cause__, ValueError)
        assert runner.get(Watcher).seen == [1, 2]
        fragile = runner.get(Fragile)
        assert fragile.recorder.max_tracking_id("TrainingSchool") == 1
        # Once the cause is fixed, the event is processed.
        fragile.fail_on = "nothing"
        school.add_trick("Fido", "sit")
        assert fragile.count(fido()) == 2


def test_multi_threaded_runner(store_env: dict[str, str]) -> None:
    system = System(pipes=[[TrainingSchool, Counters, Tally]])
    with MultiThreadedRunner(system, store_env) as runner:
        school = runner.get(TrainingSchool)
        school.register("Fido")
        for i in range(20):
            school.add_trick("Fido", f"trick {i}")
        counters = runner.get(Counters)
        counters.recorder.wait("TrainingSchool", 21, timeout=10)
        assert counters.count(fido()) == 20
        tally = runner.get(Tally)
        last = counters.recorder.max_notification_id()
        tally.recorder.wait("Counters", last, timeout=10)
        assert len(tally.seen) == 20


def test_multi_threaded_runner_keeps_others_going_after_a_policy_fails() -> None:
    system = System(pipes=[[TrainingSchool, Fragile], [TrainingSchool, Watcher]])
    runner = MultiThreadedRunner(system)
    runner.start()
    school = runner.get(TrainingSchool)
    school.register("Fido")
    school.add_trick("Fido", "boom")
    school.add_trick("Fido", "sit")
    runner.get(Watcher).recorder.wait("TrainingSchool", 3, timeout=10)
    assert runner.has_errored.wait(timeout=10)
    assert isinstance(runner.errors[0], PolicyError)
    assert runner.get(Fragile).recorder.max_tracking_id("TrainingSchool") == 1
    # As in the eventsourcing library, stop() raises the follower's error in the
    # caller's thread, once everything is stopped and closed.
    with pytest.raises(PolicyError, match="position 2"):
        runner.stop()
    assert not runner.is_started and not runner.apps
    runner.stop()  # raised once: stopping again is harmless


def test_a_runner_started_without_processing_leaves_it_to_the_caller() -> None:
    system = System(pipes=[[TrainingSchool, Counters]])
    school = TrainingSchool()
    runner = MultiThreadedRunner(system)
    runner.start(process=False)
    try:
        assert runner.is_started and not runner.is_processing
        school = runner.get(TrainingSchool)
        school.register("Fido")
        school.add_trick("Fido", "roll")
        counters = runner.get(Counters)
        assert counters.recorder.max_tracking_id("TrainingSchool") is None
        assert counters.pull_and_process("TrainingSchool") == 2
        assert counters.count(fido()) == 1
    finally:
        runner.stop()
    assert not runner.is_started
