"""A dog school whose aggregate is an immutable pydantic model, in the functional
style of the `eventsourcing` library's pydantic example.

The aggregate is never changed: functions take the current dog and return the new
event, the application saves the bare event, and the repository rebuilds the dog
by folding its events with a projector function. The events are retell's
`DomainEvent` classes: retell encodes events itself (they are msgspec Structs), so
the reference's pydantic event classes, mapper and orjson transcoder have no
counterpart here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import singledispatch
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict

from retell import Application
from retell.domain import DomainEvent, Snapshot

# --- domain ------------------------------------------------------------------------------


class Aggregate(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime


class Dog(Aggregate):
    name: str
    tricks: tuple[str, ...]


class DogRegistered(DomainEvent):
    name: str


class TrickAdded(DomainEvent):
    trick: str


def register_dog(name: str) -> DogRegistered:
    return DogRegistered(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=DomainEvent.create_timestamp(),
        name=name,
    )


def add_trick(dog: Dog, trick: str) -> TrickAdded:
    if trick in dog.tricks:
        raise ValueError(f"{dog.name} already knows {trick!r}")
    return TrickAdded(
        originator_id=dog.id,
        originator_version=dog.version + 1,
        timestamp=DomainEvent.create_timestamp(),
        trick=trick,
    )


@singledispatch
def mutate_dog(event: Any, dog: Dog | None) -> Dog | None:
    raise NotImplementedError(f"no mutation for {type(event).__qualname__}")


@mutate_dog.register
def _(event: DogRegistered, _: Dog | None) -> Dog:
    return Dog(
        id=event.originator_id,
        version=event.originator_version,
        created_on=event.timestamp,
        modified_on=event.timestamp,
        name=event.name,
        tricks=(),
    )


@mutate_dog.register
def _(event: TrickAdded, dog: Dog | None) -> Dog:
    assert dog is not None
    return dog.model_copy(
        update={
            "version": event.originator_version,
            "modified_on": event.timestamp,
            "tricks": (*dog.tricks, event.trick),
        }
    )


@mutate_dog.register
def _(event: Snapshot, _: Dog | None) -> Dog:
    return Dog.model_validate(event.state)


def project_dog(dog: Dog | None, events: Iterable[Any]) -> Dog | None:
    for each in events:
        dog = mutate_dog(each, dog)
    return dog


# --- application -------------------------------------------------------------------------


class DogSchool(Application):
    is_snapshotting_enabled = True

    def register_dog(self, name: str) -> UUID:
        registered = register_dog(name)
        self.save(registered)
        return registered.originator_id

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        self.save(add_trick(self._get_dog(dog_id), trick))

    def get_dog(self, dog_id: UUID) -> dict[str, Any]:
        dog = self._get_dog(dog_id)
        return {"name": dog.name, "tricks": dog.tricks}

    def _get_dog(self, dog_id: UUID, version: int | None = None) -> Dog:
        dog: Dog = self.repository.get(dog_id, version=version, projector_func=project_dog)
        return dog
