"""Two applications with a few aggregates each: what the browser test browses."""

from __future__ import annotations

from decimal import Decimal
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


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = Decimal(0)

    @event("Credited")
    def credit(self, amount: Decimal) -> None:
        self.balance += amount


class DogSchool(Application):
    def register(self, name: str) -> UUID:
        dog = Dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, name: str, trick: str) -> None:
        dog: Dog = self.repository.get(Dog.create_id(name))
        dog.add_trick(trick)
        self.save(dog)


class Payments(Application):
    def open(self, owner: str, credits: list[Decimal]) -> UUID:
        account = Account(owner)
        for amount in credits:
            account.credit(amount)
        self.save(account)
        return account.id
