"""Event-sourced logs and the notification log reader, on every store."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import pytest

import retell
import retell.application
from retell import Application, ConcurrencyError, EventSourcedLog
from retell.application import LocalNotificationLog, NotificationLog, NotificationLogReader
from retell.domain import DomainEvent
from retell.errors import RetellError
from retell.topics import get_topic
from tests.dogschool import Dog, TrainingSchool


class LoggedID(DomainEvent):
    aggregate_id: UUID


class Kennel(Application):
    """Logs the id of every dog it registers, the way the `eventsourcing` docs do."""

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.dog_log: EventSourcedLog[LoggedID] = EventSourcedLog(
            events=self.events,
            originator_id=uuid5(NAMESPACE_URL, "/dogs"),
            logged_cls=LoggedID,
        )

    def register(self, name: str) -> UUID:
        dog = Dog(name)
        self.save(dog, self.dog_log.trigger_event(aggregate_id=dog.id))
        return dog.id

    def dog_ids(self, **kwargs: Any) -> list[UUID]:
        return [logged.aggregate_id for logged in self.dog_log.get(**kwargs)]


def test_the_names_are_where_the_reference_has_them() -> None:
    assert retell.EventSourcedLog is retell.application.EventSourcedLog is EventSourcedLog
    assert retell.NotificationLogReader is NotificationLogReader
    assert LocalNotificationLog is NotificationLog


def test_a_log_lists_what_was_logged_in_pages(store_env: dict[str, str]) -> None:
    with Kennel(env=store_env) as kennel:
        assert kennel.dog_log.get_first() is None and kennel.dog_log.get_last() is None
        assert kennel.dog_ids() == []
        ids = [kennel.register(name) for name in ["Fido", "Rex", "Buddy", "Lassie"]]

        assert kennel.dog_ids() == ids
        assert kennel.dog_ids(desc=True) == ids[::-1]
        first, last = kennel.dog_log.get_first(), kennel.dog_log.get_last()
        assert first is not None and last is not None
        assert (first.aggregate_id, first.originator_version) == (ids[0], 1)
        assert (last.aggregate_id, last.originator_version) == (ids[3], 4)
        # Ascending pages of two, then descending ones.
        assert kennel.dog_ids(limit=2) == ids[:2]
        assert kennel.dog_ids(limit=2, gt=2) == ids[2:]
        assert kennel.dog_ids(limit=2, gt=4) == []
        assert kennel.dog_ids(desc=True, limit=2) == [ids[3], ids[2]]
        assert kennel.dog_ids(desc=True, limit=2, lte=2) == [ids[1], ids[0]]
        assert kennel.dog_ids(gt=1, lte=3) == ids[1:3]
        # Each logged id is that of a stored dog, and the log events are in the
        # notification log, after the dog each was saved with.
        assert [kennel.repository.get(i).name for i in ids] == ["Fido", "Rex", "Buddy", "Lassie"]
        topics = [n.topic for n in kennel.notification_log.select(1, 10)]
        assert topics == [get_topic(Dog.Registered), get_topic(LoggedID)] * 4


def test_the_log_is_stored(shared_store_env: dict[str, str]) -> None:
    with Kennel(env=shared_store_env) as kennel:
        ids = [kennel.register(name) for name in ["Fido", "Rex"]]
    with Kennel(env=shared_store_env) as again:
        assert again.dog_ids() == ids
        assert again.dog_log.trigger_event(aggregate_id=uuid4()).originator_version == 3


def test_trigger_takes_the_next_version_from_the_store(store_env: dict[str, str]) -> None:
    with Kennel(env=store_env) as kennel:
        log = kennel.dog_log
        one = log.trigger_event(aggregate_id=uuid4())
        # Not saved yet: the next trigger makes the same version again.
        assert log.trigger_event(aggregate_id=uuid4()).originator_version == 1
        assert (one.originator_id, one.originator_version) == (uuid5(NAMESPACE_URL, "/dogs"), 1)
        assert one.timestamp.tzinfo is not None
        kennel.save(one)
        assert log.trigger_event(aggregate_id=uuid4()).originator_version == 2
        # A version may be given, gaps and all.
        kennel.save(log.trigger_event(5, aggregate_id=uuid4()))
        assert [e.originator_version for e in log.get()] == [1, 5]
        assert log.trigger_event(aggregate_id=uuid4()).originator_version == 6
        with pytest.raises(TypeError):
            log.trigger_event(name="not a field")


def test_two_writers_of_one_version_cannot_both_save(store_env: dict[str, str]) -> None:
    with Kennel(env=store_env) as kennel:
        kennel.register("Fido")
        rex, buddy = Dog("Rex"), Dog("Buddy")
        for_rex = kennel.dog_log.trigger_event(aggregate_id=rex.id)
        for_buddy = kennel.dog_log.trigger_event(aggregate_id=buddy.id)
        assert for_rex.originator_version == for_buddy.originator_version == 2
        kennel.save(rex, for_rex)
        with pytest.raises(ConcurrencyError):
            kennel.save(buddy, for_buddy)
        # All or nothing: Buddy, saved with the refused log event, was not saved.
        assert buddy.id not in kennel.repository
        assert kennel.dog_ids() == [Dog.create_id("Fido"), rex.id]
        # Triggered again, it goes after Rex.
        kennel.save(buddy, kennel.dog_log.trigger_event(aggregate_id=buddy.id))
        assert kennel.dog_ids()[-1] == buddy.id


def test_save_takes_bare_events_in_order_and_refuses_other_things() -> None:
    kennel = Kennel()
    fido, rex = Dog("Fido"), Dog("Rex")
    logged = kennel.dog_log.trigger_event(aggregate_id=fido.id)
    recordings = kennel.save(fido, logged, rex)
    assert [type(r.domain_event) for r in recordings] == [Dog.Registered, LoggedID, Dog.Registered]
    assert [r.notification_id for r in recordings] == [1, 2, 3]
    assert fido.collect_events() == [] and rex.collect_events() == []
    with pytest.raises(RetellError, match="takes aggregates and events, not 'Fido'"):
        kennel.save(Dog("Buddy"), "Fido")  # type: ignore[arg-type]
    assert Dog.create_id("Buddy") not in kennel.repository


def school_with_events(env: dict[str, str], count: int) -> TrainingSchool:
    """A school whose log has `count` events, a dog's registration and its tricks."""
    school = TrainingSchool(env=env)
    dog = Dog("Fido")
    for i in range(count - 1):
        dog.add_trick(str(i))
    school.save(dog)
    return school


def test_the_reader_reads_from_a_position_to_the_end(store_env: dict[str, str]) -> None:
    with school_with_events(store_env, 23) as school:
        reader = NotificationLogReader(school.notification_log, section_size=5)
        assert [n.id for n in reader.read(start=1)] == list(range(1, 24))
        assert [n.id for n in reader.read(start=20)] == [20, 21, 22, 23]
        assert [n.id for n in reader.read(start=0)] == list(range(1, 24))
        assert list(reader.read(start=24)) == []
        # It reads on from where it stopped once more is recorded.
        school.add_trick("Fido", "sit")
        school.add_trick("Fido", "roll")
        assert [n.id for n in reader.read(start=24)] == [24, 25]
        # Sections larger than the log serves are read in the log's sections.
        big = NotificationLogReader(school.notification_log, section_size=100)
        assert [n.id for n in big.read(start=3)] == list(range(3, 26))
        notification = next(reader.read(start=25))
        trick = school.mapper.to_domain_event(notification)
        assert isinstance(trick, Dog.TrickAdded) and trick.trick == "roll"


def test_the_reader_selects_pages(store_env: dict[str, str]) -> None:
    with school_with_events(store_env, 12) as school:
        school.register("Rex")  # position 13
        reader = NotificationLogReader(school.notification_log, section_size=5)

        def pages(**kwargs: Any) -> list[list[int]]:
            return [[n.id for n in page] for page in reader.select(**kwargs)]

        assert pages(start=1) == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13]]
        assert pages(start=None) == pages(start=1)
        assert pages(start=3, stop=9) == [[3, 4, 5, 6, 7], [8, 9]]
        assert pages(start=6, stop=10) == [[6, 7, 8, 9, 10]]
        assert pages(start=3, inclusive_of_start=False) == [[4, 5, 6, 7, 8], [9, 10, 11, 12, 13]]
        assert pages(start=14) == []
        registered = [get_topic(Dog.Registered)]
        assert pages(start=1, topics=registered) == [[1, 13]]
        assert pages(start=2, topics=registered, stop=12) == []
        # A log of exactly whole pages ends without an empty page.
        assert pages(start=4) == [[4, 5, 6, 7, 8], [9, 10, 11, 12, 13]]


def test_the_reader_needs_a_positive_section_size() -> None:
    with pytest.raises(RetellError, match="section_size must be at least 1, not 0"):
        NotificationLogReader(TrainingSchool().notification_log, section_size=0)
