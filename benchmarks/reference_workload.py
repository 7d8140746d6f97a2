"""The reference side: the benchmark workloads on the `eventsourcing` library.

Run only with the interpreter of one of the separate virtual environments that
`run.py --compare` makes: retell's environment never has eventsourcing.

- benchmarks/.venvs/eventsourcing: eventsourcing 9.5.x, for the stores memory, sqlite
  and postgres (its own POPO, SQLite and PostgreSQL stores);
- benchmarks/.venvs/eventsourcing-django: eventsourcing-django, with the older
  eventsourcing and Django it pins, for django-sqlite and django-postgres.

    benchmarks/.venvs/eventsourcing/bin/python benchmarks/reference_workload.py --store memory

It prints one JSON object (see harness.py). The settings match retell's side: no
snapshots and no aggregate cache, which are eventsourcing's defaults too.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import fixtures
import harness
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication

POSTGRES_SCHEMA = fixtures.unique_name("eventsourcing_bench")
"""eventsourcing's tables live in a schema of their own, apart from retell's."""

DJANGO_SETTINGS = "django_settings_reference"

PULL_SECTION_SIZE = 500
"""How many notifications W5's follower reads at a time (and the most the dog school's
notification log gives at once). eventsourcing's default is 10 for both; 500 is
retell's page size, so that W5 compares the processing, not the page size."""


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

    log_section_size = PULL_SECTION_SIZE

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


class TrickCounter(Aggregate):
    """W5: how many tricks one dog has learnt, kept by the follower."""

    @event("Started")
    def __init__(self, dog_id: UUID) -> None:
        self.dog_id = dog_id
        self.count = 0

    @staticmethod
    def create_id(dog_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"/trick-counters/{dog_id}")

    @event("Counted")
    def count_trick(self) -> None:
        self.count += 1


class TrickCounters(ProcessApplication[UUID]):
    """W5's follower: for each dog event, gets (or starts) the dog's counter, counts a
    trick for a TrickAdded, and saves the counter with the tracking position."""

    pull_section_size = PULL_SECTION_SIZE

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        dog_id: UUID = domain_event.originator_id
        try:
            counter: TrickCounter = self.repository.get(TrickCounter.create_id(dog_id))
        except AggregateNotFoundError:
            counter = TrickCounter(dog_id)
        if isinstance(domain_event, Dog.TrickAdded):  # type: ignore[attr-defined]  # made by @event
            counter.count_trick()
        processing_event.collect_events(counter)

    def follow_leader(self, leader: harness.BenchApp) -> None:
        assert isinstance(leader, DogSchool)
        self.follow(leader.name, leader.notification_log)

    def process_up_to(self, stop: int) -> None:
        self.pull_and_process(DogSchool.name, stop=stop)

    def position(self) -> int | None:
        return self.recorder.max_tracking_id(DogSchool.name)

    def tricks_counted(self, dog_id: UUID) -> int:
        counter: TrickCounter = self.repository.get(TrickCounter.create_id(UUID(str(dog_id))))
        return counter.count


def sqlite_env(scratch: Path) -> dict[str, str]:
    """eventsourcing's SQLite store in the scratch file (it sets WAL, and no `synchronous`)."""
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(scratch)}


STORES = {
    # eventsourcing's default store is its in-memory one ("POPO").
    "memory": harness.Store(env=lambda scratch: {}),
    "sqlite": harness.Store(env=sqlite_env),
    "postgres": fixtures.postgres_store(POSTGRES_SCHEMA, "eventsourcing.postgres"),
}

HAS_DJANGO = find_spec("eventsourcing_django") is not None
if HAS_DJANGO:
    STORES["django-sqlite"] = fixtures.django_store(
        DJANGO_SETTINGS, "default", "eventsourcing_django"
    )
    STORES["django-postgres"] = fixtures.django_store(
        DJANGO_SETTINGS, "postgres", "eventsourcing_django"
    )


def sqlite_synchronous() -> str:
    """The `synchronous` pragma of eventsourcing's own SQLite connections, asked of one."""
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    with tempfile.TemporaryDirectory() as scratch:
        app = DogSchool(env=sqlite_env(Path(scratch) / "probe.sqlite"))
        try:
            app.register("probe")
            with sqlite3.connect(Path(scratch) / "probe.sqlite") as fresh:
                default = fresh.execute("PRAGMA synchronous").fetchone()[0]
        finally:
            app.close()
    # eventsourcing sets no pragma but journal_mode, so its connections have the default.
    return f"{names.get(default, str(default))} (SQLite's default; eventsourcing sets none)"


def settings(store: str) -> dict[str, str]:
    """What else decides the figures on a store, for the JSON."""
    found = {"follower_pull_section_size": str(PULL_SECTION_SIZE)}
    if store == "sqlite":
        found["sqlite_synchronous"] = sqlite_synchronous()
    if store.startswith("django"):
        found["django"] = fixtures.django_version()
        found["eventsourcing-django"] = library_version("eventsourcing-django")
    return found


def library_version(name: str) -> str:
    """A distribution's version, or "" where it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def open_app(env: dict[str, str]) -> harness.BenchApp:
    """A DogSchool on the store that `env` names."""
    return DogSchool(env=env)


def open_follower(env: dict[str, str]) -> harness.BenchFollower:
    """W5's follower on the store that `env` names."""
    return TrickCounters(env=env)


LIBRARY = harness.Library(
    name="eventsourcing-django" if HAS_DJANGO else "eventsourcing",
    version=(
        f"{library_version('eventsourcing-django')} (eventsourcing {version('eventsourcing')})"
        if HAS_DJANGO
        else version("eventsourcing")
    ),
    stores=STORES,
    open_app=open_app,
    open_follower=open_follower,
    settings=settings,
)


if __name__ == "__main__":
    harness.main(LIBRARY)
