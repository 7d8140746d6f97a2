"""retell's side: the benchmark workloads on retell, through its public names only.

    .venv/bin/python benchmarks/retell_workload.py --store memory [--quick]

It prints one JSON object (see harness.py); `run.py` runs it as a subprocess, exactly as
it runs the reference side, so both are measured the same way. No snapshots and no
aggregate cache: retell's defaults, and the settings of the reference side.

To benchmark another store, add an entry to STORES: its env, and if it keeps state
outside the scratch file, setup/teardown hooks that give each workload an empty store.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from uuid import UUID

import harness

from retell import Aggregate, Application, event

POSTGRES_SCHEMA = "retell_bench"
"""retell's tables live in a schema of their own, apart from the reference's."""

POSTGRES_ENV = {
    "POSTGRES_DBNAME": "test",
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "",
}


class Dog(Aggregate):
    """The dog of the dog-school example."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class DogSchool(Application):
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
        # The checks read `.id`, `.originator_id` and `.originator_version` of each item.
        return self.recorder.select_notifications(start, limit)


# ---------------------------------------------------------------------------------------
# STORE HOOKS. Each workload gets an empty store: `setup` runs before its application is
# constructed, `teardown` after the application is closed. Memory and SQLite need none
# (a new application, or a new scratch file, is already empty). PostgreSQL uses only the
# documented POSTGRES_SCHEMA key and a schema of the benchmark's own, dropped and
# re-created around each workload. Replace these if retell gains a better way (a
# "drop tables" helper, say), or fill in hooks for a new store (django: configure
# settings and migrate in setup, flush in teardown).
# ---------------------------------------------------------------------------------------


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
    """HOOK: an empty schema for retell to create its tables in."""
    postgres_reset_schema(create=True)


def postgres_teardown() -> None:
    """HOOK: leave nothing behind in the test database."""
    postgres_reset_schema(create=False)


STORES = {
    "memory": harness.Store(env=lambda scratch: {"PERSISTENCE_MODULE": "retell.memory"}),
    "sqlite": harness.Store(
        env=lambda scratch: {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(scratch)}
    ),
    "postgres": harness.Store(
        env=lambda scratch: {
            "PERSISTENCE_MODULE": "retell.postgres",
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
    name="retell",
    version=version("retell"),
    stores=STORES,
    open_app=open_app,
)


if __name__ == "__main__":
    harness.main(LIBRARY)
