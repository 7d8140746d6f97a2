"""The domain: dogs that learn tricks, in an event-sourced application.

A dog's id is derived from its name, so registering a name twice is refused by the
store (version 1 of that dog exists already), with no lookup table.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec

from retell import Aggregate, AggregateNotFound, Application, event
from retell.domain.events import DomainEvent
from retell.errors import ConcurrencyError


class SchoolError(Exception):
    """A request the school refuses; the message says why, for the page to show."""


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/dogs/{name}")

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class DogSchool(Application):
    """Registers dogs and teaches them tricks. Each command returns the position of its
    event in the log, so a page can wait for the leaderboard to include it."""

    def register(self, name: str) -> int:
        """Register a dog (its id is ``Dog.create_id(name)``)."""
        name = name.strip()
        if not name:
            raise SchoolError("A dog needs a name.")
        try:
            (recording,) = self.save(Dog(name))
        except ConcurrencyError:
            raise SchoolError(f"{name} is registered already.") from None
        return recording.notification_id or 0

    def add_trick(self, dog_id: UUID, trick: str) -> int:
        trick = trick.strip()
        if not trick:
            raise SchoolError("Say which trick.")
        dog = self.get_dog(dog_id)
        if trick in dog.tricks:
            raise SchoolError(f"{dog.name} knows {trick!r} already.")
        dog.add_trick(trick)
        (recording,) = self.save(dog)
        return recording.notification_id or 0

    def get_dog(self, dog_id: UUID) -> Dog:
        try:
            dog: Dog = self.repository.get(dog_id)
        except AggregateNotFound:
            raise SchoolError("There is no such dog.") from None
        return dog

    def history(self, dog_id: UUID) -> list[DomainEvent]:
        """The dog's events, oldest first: everything that ever happened to it."""
        events: list[DomainEvent] = self.repository.events.get(dog_id)
        return events


BASE_FIELDS = frozenset([*DomainEvent.__struct_fields__, "originator_topic"])
"""Every event has these (whose, which version, when, caused by what; a first event
also names the aggregate's class)."""


def event_data(domain_event: DomainEvent) -> dict[str, Any]:
    """What an event says beyond whose it is and when: its own fields."""
    data: dict[str, Any] = msgspec.structs.asdict(domain_event)
    return {key: value for key, value in data.items() if key not in BASE_FIELDS}
