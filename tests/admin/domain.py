"""A small domain for the admin's tests: dogs in a kennel, with values of many types."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

from retell import Aggregate, Application, event


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str, born: date | None = None) -> None:
        self.name = name
        self.born = born
        self.tricks: list[str] = []
        self.weight: Decimal | None = None

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)

    @event("Weighed")
    def weigh(self, kilos: Decimal) -> None:
        self.weight = kilos


class Kennel(Application):
    def register(self, name: str, born: date | None = None) -> UUID:
        dog = Dog(name, born)
        self.save(dog)
        return dog.id

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.add_trick(trick)
        self.save(dog)

    def weigh(self, dog_id: UUID, kilos: Decimal) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.weigh(kilos)
        self.save(dog)


def new_kennel(env: dict[str, str], snapshots: int = 0) -> Kennel:
    """A kennel with a name of its own, so its events are only this test's."""
    attributes: dict[str, object] = {"name": f"Kennel{uuid4().hex[:10]}"}
    if snapshots:
        attributes["snapshotting_intervals"] = {Dog: snapshots}
    cls = type("Kennel", (Kennel,), attributes)
    kennel: Kennel = cls(env=env)
    return kennel


class Stream(Aggregate):
    """An aggregate of an application whose ids are strs (``ORIGINATOR_ID_TYPE=text``)."""

    class Started(Aggregate.Created):
        pass

    @event("Noted")
    def note(self, text: str) -> None:
        self.text = text


def new_streams(env: dict[str, str]) -> Application:
    """An application with str ids and a name of its own (see `new_kennel`)."""
    cls = type("Streams", (Application,), {"name": f"Streams{uuid4().hex[:10]}"})
    app: Application = cls(env={**env, "ORIGINATOR_ID_TYPE": "text"})
    return app
