"""A follower records a run of upstream events per transaction: on every store."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import pytest

from retell.domain.events import DomainEvent
from retell.errors import ConcurrencyError, ConfigurationError, PolicyError
from retell.projection import Projection
from retell.system import ProcessingEvent
from tests.dogschool import Dog, TrainingSchool
from tests.test_system import Counter, Counters, fido


def school_with_tricks(env: dict[str, str], tricks: int) -> TrainingSchool:
    school = TrainingSchool(env=env)
    school.register("Fido")
    dog = school.repository.get(fido())
    for i in range(tricks):
        dog.add_trick(str(i))
    school.save(dog)  # one save: positions 1 (registered) to tricks + 1
    return school


def following(school: TrainingSchool, counters: Counters) -> Counters:
    counters.follow("TrainingSchool", school.notification_log)
    return counters


def counter_id() -> UUID:
    return Counter.create_id(str(fido()))


def test_a_run_is_recorded_batch_by_batch(store_env: dict[str, str]) -> None:
    school = school_with_tricks(store_env, 249)
    counters = following(school, Counters(env=store_env))
    recorded: list[int] = []
    assert counters.pull_and_process("TrainingSchool", on_recorded=recorded.append) == 250
    assert recorded == [100, 100, 50]
    # Each batch's policies saw the counter as the batch had left it: one event each.
    assert counters.count(fido()) == 249
    assert counters.repository.get(counter_id()).version == 250  # started, then 249 tricks
    assert counters.recorder.max_tracking_id("TrainingSchool") == 250


def test_batch_size_one_records_each_event_alone(store_env: dict[str, str]) -> None:
    class OneByOne(Counters):
        name = "Counters"
        batch_size = 1

    school = school_with_tricks(store_env, 4)
    counters = following(school, OneByOne(env=store_env))
    recorded: list[int] = []
    counters.pull_and_process("TrainingSchool", on_recorded=recorded.append)
    assert recorded == [1] * 5
    assert counters.count(fido()) == 4


class OnTrick(Counters):
    """Counts tricks, except the trick `special`, which goes to `on_special`."""

    name = "Counters"
    special: str | None = None

    def count_trick(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        if domain_event.trick == self.special:
            self.on_special(domain_event, processing_event)
        else:
            super().count_trick(domain_event, processing_event)

    def on_special(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        raise NotImplementedError


class FailsAt(OnTrick):
    """Fails at trick "7" until told otherwise (`special = None`)."""

    special = "7"

    def on_special(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        raise ValueError(f"no trick {self.special}")


def test_a_policy_error_keeps_what_came_before_it(store_env: dict[str, str]) -> None:
    school = school_with_tricks(store_env, 20)
    counters = following(school, FailsAt(env=store_env))
    recorded: list[int] = []
    with pytest.raises(PolicyError) as failure:
        counters.pull_and_process("TrainingSchool", on_recorded=recorded.append)
    assert failure.value.position == 9  # trick "7" is the 9th event
    assert recorded == [8]
    assert counters.recorder.max_tracking_id("TrainingSchool") == 8
    assert counters.count(fido()) == 7
    counters.special = None
    assert counters.pull_and_process("TrainingSchool") == 13  # positions 9 to 21
    assert counters.count(fido()) == 20


def test_an_overlapping_run_is_not_processed_twice(store_env: dict[str, str]) -> None:
    school = school_with_tricks(store_env, 9)
    counters = following(school, Counters(env=store_env))
    assert counters.pull_and_process("TrainingSchool", stop=4) == 4
    # From position 2: the batch 2-10 overlaps 2-4, is refused whole, and 5-10 follow.
    assert counters.pull_and_process("TrainingSchool", start=2) == 6
    assert counters.count(fido()) == 9
    assert counters.repository.get(counter_id()).version == 10


class Forgetful(OnTrick):
    """Changes the counter without collecting it for the trick 'forget'."""

    special = "forget"

    def on_special(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        self.repository.get(counter_id()).increment()  # not collected: dropped


def test_changes_not_collected_are_dropped(store_env: dict[str, str]) -> None:
    school = TrainingSchool(env=store_env)
    school.register("Fido")
    for trick in ["a", "b", "forget", "c"]:
        school.add_trick("Fido", trick)
    counters = following(school, Forgetful(env=store_env))
    recorded: list[int] = []
    assert counters.pull_and_process("TrainingSchool", on_recorded=recorded.append) == 5
    assert recorded == [4, 1]  # recorded at the uncollected change, without it
    assert counters.count(fido()) == 3


class Inspecting(Counters):
    """Looks at the counter in ways the batch cannot answer from memory."""

    name = "Counters"

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.seen: list[tuple[str, Any]] = []

    def count_trick(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        if domain_event.trick == "version":
            self.seen.append(("version 2", self.repository.get(counter_id(), version=2).count))
        elif domain_event.trick == "save":
            counter = self.repository.get(counter_id())
            counter.increment()
            self.save(counter)  # saved at once, outside the tracking transaction
        elif domain_event.trick == "threads":
            elsewhere: list[bool] = []
            thread = threading.Thread(
                target=lambda: elsewhere.append(counter_id() in self.repository)
            )
            thread.start()
            thread.join()
            self.seen.append(("here", counter_id() in self.repository))
            self.seen.append(("elsewhere", elsewhere[0]))
        super().count_trick(domain_event, processing_event)


def test_a_policy_sees_its_batch_and_other_threads_do_not(store_env: dict[str, str]) -> None:
    school = TrainingSchool(env=store_env)
    school.register("Fido")
    for trick in ["a", "threads", "b", "c", "version", "save", "d"]:
        school.add_trick("Fido", trick)
    counters = following(school, Inspecting(env=store_env))
    recorded: list[int] = []
    assert counters.pull_and_process("TrainingSchool", on_recorded=recorded.append) == 8
    # The counter is created by "a" in the batch: not recorded yet, seen only here.
    assert ("here", True) in counters.seen
    assert ("elsewhere", False) in counters.seen
    # An earlier version, and a save in a policy, record the batch so far first.
    assert ("version 2", 1) in counters.seen
    assert recorded == [5, 1, 2]
    assert counters.count(fido()) == 8  # seven counted, and one more saved by "save"
    versions = [e.originator_version for e in counters.events.get(counter_id())]
    assert versions == list(range(1, 10))


def test_correlation_ids_across_a_batch(store_env: dict[str, str]) -> None:
    school = school_with_tricks(store_env, 3)
    counters = following(school, Counters(env=store_env))
    counters.pull_and_process("TrainingSchool")
    tricks = [e.identity for e in school.events.get(fido())[1:]]
    produced: list[DomainEvent] = counters.events.get(counter_id())
    # The first trick starts the counter and counts itself: two events it caused.
    assert [e.causation_id for e in produced] == [tricks[0], *tricks]


def test_competing_followers_process_each_event_once(shared_store_env: dict[str, str]) -> None:
    """Followers of one name in several threads, without a lease between them, with
    batches of different sizes, while the leader keeps recording: every trick is
    counted once, however their runs overlap."""
    env = shared_store_env
    school = TrainingSchool(env=env)
    dogs = [f"dog{i}" for i in range(5)]
    for dog in dogs:
        school.register(dog)
    competitors: list[Counters] = []
    for size in (1, 3, 10, 100):

        class Sized(Counters):
            name = "Counters"
            batch_size = size
            page_size = 7 * size

        competitors.append(following(school, Sized(env=env)))
    writing = threading.Event()
    writing.set()
    errors: list[BaseException] = []

    def compete(counters: Counters) -> None:
        try:
            while writing.is_set():
                counters.pull_and_process("TrainingSchool")
            counters.pull_and_process("TrainingSchool")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=compete, args=(c,)) for c in competitors]
    for thread in threads:
        thread.start()
    for round_ in range(40):
        for dog in dogs:
            school.add_trick(dog, str(round_))
    writing.clear()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    counters = competitors[0]
    last = school.recorder.max_notification_id()
    assert counters.recorder.max_tracking_id("TrainingSchool") == last
    for dog in dogs:
        counter_id = Counter.create_id(str(Dog.create_id(dog)))
        counter = counters.repository.get(counter_id)
        assert counter.count == 40
        versions = [e.originator_version for e in counters.events.get(counter_id)]
        assert versions == list(range(1, 42))
    for competitor in competitors:
        competitor.close()
    school.close()


def test_notifications_others_recorded_are_skipped(store_env: dict[str, str]) -> None:
    school = school_with_tricks(store_env, 9)
    counters = following(school, Counters(env=store_env))
    assert counters.pull_and_process("TrainingSchool", stop=4) == 4
    everything = school.notification_log.select(1, 100)
    # The run 1-10 overlaps what is recorded (1-4): refused whole, then 5-10 processed.
    assert counters.process_notifications("TrainingSchool", everything, school.mapper) == 6
    assert not counters.process_notification("TrainingSchool", everything[-1], school.mapper)
    assert counters.count(fido()) == 9


def test_a_subscription_hands_over_what_it_has_read(store_env: dict[str, str]) -> None:
    school = school_with_tricks(store_env, 4)
    with school.recorder.subscribe(gt=1, topics=()) as subscription:
        assert [n.id for n in subscription.take()] == [2, 3, 4, 5]
        school.add_trick("Fido", "late")
        assert [n.id for n in subscription.take()] == [6]
        assert subscription.position == 6
        subscription.stop()
        assert subscription.take() == []


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "10"])
def test_sizes_must_be_whole_numbers_of_at_least_one(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"Bad.batch_size must be a whole number"):

        class Bad(Counters):
            batch_size = value  # type: ignore[assignment]


def test_a_projection_batch_size_must_be_at_least_one() -> None:
    with pytest.raises(ConfigurationError, match=r"Wide.batch_size must be a whole number"):

        class Wide(Projection[Any]):
            batch_size = 0

            def process_event(self, domain_event: DomainEvent, tracking: Any) -> None:
                pass


class Duplicating(OnTrick):
    """For the trick 'again', starts the dog's counter anew instead of getting it."""

    special = "again"

    def on_special(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        counter = Counter(str(domain_event.originator_id))
        counter.increment()
        processing_event.collect_events(counter)


def test_a_conflicting_save_fails_at_its_own_event(store_env: dict[str, str]) -> None:
    school = TrainingSchool(env=store_env)
    school.register("Fido")
    for trick in ["a", "b", "again", "c"]:
        school.add_trick("Fido", trick)
    counters = following(school, Duplicating(env=store_env))
    with pytest.raises(ConcurrencyError):
        counters.pull_and_process("TrainingSchool")
    # As with a transaction per event: what came before it is recorded, and it is not.
    assert counters.recorder.max_tracking_id("TrainingSchool") == 3
    assert counters.count(fido()) == 2
