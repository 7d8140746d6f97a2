"""The reference side: the benchmark workloads on the `eventsourcing` library (9.5.x).

Run only with the interpreter of the separate virtual environment that `run.py --compare`
makes (benchmarks/.venvs/eventsourcing): retell's environment never has eventsourcing.

    benchmarks/.venvs/eventsourcing/bin/python benchmarks/reference_workload.py --store memory

It prints one JSON object (see harness.py). The settings match retell's side: no
snapshots and no aggregate cache, which are eventsourcing's defaults too.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from uuid import UUID

import harness
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

POSTGRES_SCHEMA = "eventsourcing_bench"
"""eventsourcing's tables live in a schema of their own, apart from retell's."""

POSTGRES_ENV = {
    "POSTGRES_DBNAME": "test",
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "",
}


class Dog(Aggregate):
    """The dog of the dog-school example, in eventsourcing's declarative style."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class DogSchool(Application[UUID]):
    """The dog-school application: one save per command, no cache, no snapshots."""

    def register(self, name: str) -> UUID:
        dog = Dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.add_trick(trick)
        self.save(dog)

    def populate(self, name: str, tricks: int) -> UUID:
        dog = Dog(name)
        for number in range(1, tricks + 1):
            dog.add_trick(harness.trick_name(number))
        self.save(dog)
        return dog.id

    def get(self, dog_id: UUID) -> Dog:
        dog: Dog = self.repository.get(dog_id)
        return dog

    def select_notifications(self, start: int, limit: int) -> Sequence[harness.Notification]:
        return self.recorder.select_notifications(start, limit)


def postgres_reset_schema(*, create: bool) -> None:
    """Drop the benchmark's schema (and everything in it), then re-create it if asked."""
    import psycopg
    from psycopg import sql

    schema = sql.Identifier(POSTGRES_SCHEMA)
    with psycopg.connect(
        dbname=POSTGRES_ENV["POSTGRES_DBNAME"],
        host=POSTGRES_ENV["POSTGRES_HOST"],
        port=POSTGRES_ENV["POSTGRES_PORT"],
        user=POSTGRES_ENV["POSTGRES_USER"],
        autocommit=True,
    ) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        if create:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(schema))


def postgres_setup() -> None:
    """Start from an empty schema: eventsourcing creates its tables in it on construction."""
    postgres_reset_schema(create=True)


def postgres_teardown() -> None:
    """Leave nothing behind in the test database."""
    postgres_reset_schema(create=False)


STORES = {
    # eventsourcing's default store is its in-memory one ("POPO").
    "memory": harness.Store(env=lambda scratch: {}),
    "sqlite": harness.Store(
        env=lambda scratch: {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(scratch),
        }
    ),
    "postgres": harness.Store(
        env=lambda scratch: {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            **POSTGRES_ENV,
            "POSTGRES_SCHEMA": POSTGRES_SCHEMA,
        },
        setup=postgres_setup,
        teardown=postgres_teardown,
    ),
}


def open_app(env: dict[str, str]) -> harness.BenchApp:
    """A DogSchool on the store that `env` names."""
    return DogSchool(env=env)


LIBRARY = harness.Library(
    name="eventsourcing",
    version=version("eventsourcing"),
    stores=STORES,
    open_app=open_app,
)


if __name__ == "__main__":
    harness.main(LIBRARY)
