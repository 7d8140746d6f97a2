"""The README's dog school, shared by the tests of applications, systems and workers."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from retell import Aggregate, Application, event


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


class TrainingSchool(Application):
    def register(self, name: str) -> UUID:
        dog = Dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, name: str, trick: str) -> None:
        dog = self.repository.get(Dog.create_id(name))
        dog.add_trick(trick)
        self.save(dog)
