"""A dog school whose aggregate is an immutable msgspec Struct, in the functional
style of the `eventsourcing` library's msgspec example.

As with the pydantic one, functions return new events (here a command may decide
several), the application saves the bare events in one transaction, and the
repository folds them with a projector function. The events are retell's
`DomainEvent` classes, which are msgspec Structs already.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from retell import Application
from retell.domain import DomainEvent, Snapshot

# --- domain ------------------------------------------------------------------------------


class Dog(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime
    name: str
    tricks: tuple[str, ...] = ()


class DogRegistered(DomainEvent):
    name: str


class TrickAdded(DomainEvent):
    trick: str


def mutate(dog: Dog | None, event: Any) -> Dog:
    if isinstance(event, DogRegistered):
        return Dog(
            id=event.originator_id,
            version=event.originator_version,
            created_on=event.timestamp,
            modified_on=event.timestamp,
            name=event.name,
        )
    if isinstance(event, TrickAdded):
        assert dog is not None
        return msgspec.structs.replace(
            dog,
            version=event.originator_version,
            modified_on=event.timestamp,
            tricks=(*dog.tricks, event.trick),
        )
    if isinstance(event, Snapshot):
        return msgspec.convert(event.state, Dog)
    raise NotImplementedError(f"no mutation for {type(event).__qualname__}")


def project_dog(dog: Dog | None, events: Iterable[Any]) -> Dog | None:
    for event in events:
        dog = mutate(dog, event)
    return dog


def register_dog(name: str) -> list[DomainEvent]:
    return [
        DogRegistered(
            originator_id=uuid4(),
            originator_version=1,
            timestamp=DomainEvent.create_timestamp(),
            name=name,
        )
    ]


def add_tricks(dog: Dog, *tricks: str) -> list[DomainEvent]:
    """One event per trick, at the versions after the dog's."""
    return [
        TrickAdded(
            originator_id=dog.id,
            originator_version=dog.version + n,
            timestamp=DomainEvent.create_timestamp(),
            trick=trick,
        )
        for n, trick in enumerate(tricks, start=1)
    ]


# --- application -------------------------------------------------------------------------


class DogSchool(Application):
    is_snapshotting_enabled = True

    def register_dog(self, name: str) -> UUID:
        [registered] = register_dog(name)
        self.save(registered)
        return registered.originator_id

    def add_tricks(self, dog_id: UUID, *tricks: str) -> None:
        self.save(*add_tricks(self.get(dog_id), *tricks))

    def get(self, dog_id: UUID, version: int | None = None) -> Dog:
        dog: Dog = self.repository.get(dog_id, version=version, projector_func=project_dog)
        return dog

    def get_dog(self, dog_id: UUID) -> dict[str, Any]:
        dog = self.get(dog_id)
        return {"name": dog.name, "tricks": dog.tricks}
