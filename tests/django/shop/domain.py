"""A small system for the tests: a school of dogs, and followers that count their tricks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from retell import Application
from retell.domain.events import DomainEvent
from retell.errors import AggregateNotFound
from retell.system import ProcessApplication, ProcessingEvent, SingleThreadedRunner, System
from tests.test_system import Counter, Dog


class TrainingSchool(Application):
    snapshotting_intervals = {Dog: 2}

    def register(self, name: str) -> UUID:
        dog = Dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, name: str, trick: str) -> None:
        dog = self.repository.get(Dog.create_id(name))
        dog.add_trick(trick)
        self.save(dog)

    def tricks(self, name: str) -> list[str]:
        tricks: list[str] = self.repository.get(Dog.create_id(name)).tricks
        return tricks


class Counting(ProcessApplication):
    """Counts every event of its leaders by aggregate; fails on the trick `fails_on`."""

    fails_on = ""

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        if self.fails_on and getattr(domain_event, "trick", None) == self.fails_on:
            raise ValueError("this trick cannot be counted")
        name = str(getattr(domain_event, "originator_id", ""))
        try:
            counter = self.repository.get(Counter.create_id(name))
        except AggregateNotFound:
            counter = Counter(name)
        counter.increment()
        processing_event.collect_events(counter)

    def count(self, aggregate_id: Any) -> int:
        try:
            counter = self.repository.get(Counter.create_id(str(aggregate_id)))
        except AggregateNotFound:
            return 0
        result: int = counter.count
        return result


class Counters(Counting):
    """Follows the school."""


class Audit(Counting):
    """Follows Counters: a pipe of three."""


class Fragile(Counting):
    """Follows the school too, and fails on the trick 'explode'."""

    fails_on = "explode"


def make_system() -> System:
    return System(pipes=[[TrainingSchool, Counters, Audit], [TrainingSchool, Fragile]])


NAMES = ("TrainingSchool", "Counters", "Audit", "Fragile")


def get_runner() -> SingleThreadedRunner:
    """For RETELL_RUNNER = "tests.django.shop.domain.get_runner"."""
    return SingleThreadedRunner(make_system(), env={"PERSISTENCE_MODULE": "retell.django"})
