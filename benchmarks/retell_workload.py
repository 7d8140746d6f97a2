"""retell's side: the benchmark workloads on retell, through its public names only.

    .venv/bin/python benchmarks/retell_workload.py --store memory [--quick]

It prints one JSON object (see harness.py); `run.py` runs it as a subprocess, exactly as
it runs the reference side, so both are measured the same way. No snapshots and no
aggregate cache: retell's defaults, and the settings of the reference side.

To benchmark another store, add an entry to STORES: its env, and if it keeps state
outside the scratch file, setup/teardown hooks that give each workload an empty store
(`fixtures.py` has them for PostgreSQL and Django).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import version
from typing import cast
from uuid import NAMESPACE_URL, UUID, uuid5

import fixtures
import harness

from retell import Aggregate, AggregateNotFound, Application, event
from retell.domain.events import DomainEvent
from retell.system import ProcessApplication, ProcessingEvent

POSTGRES_SCHEMA = fixtures.unique_name("retell_bench")
"""retell's tables live in a schema of their own, apart from the reference's."""

DJANGO_SETTINGS = "django_settings_retell"


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
        dog = cast(Dog, self.repository.get(dog_id))
        dog.add_trick(trick)
        self.save(dog)

    def populate(self, name: str, tricks: int) -> UUID:
        dog = Dog(name)
        for number in range(1, tricks + 1):
            dog.add_trick(harness.trick_name(number))
        self.save(dog)
        return dog.id

    def get(self, dog_id: UUID) -> Dog:
        return cast(Dog, self.repository.get(dog_id))

    def select_notifications(self, start: int, limit: int) -> Sequence[harness.Notification]:
        # The checks read `.id`, `.originator_id` and `.originator_version` of each item.
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


class TrickCounters(ProcessApplication):
    """W5's follower: for each dog event, gets (or starts) the dog's counter, counts a
    trick for a TrickAdded, and saves the counter with the tracking position.

    It records retell's default `batch_size` of upstream events per transaction; the
    environment variable BENCH_W5_BATCH_SIZE sets another (1: an event per transaction,
    as the reference records them)."""

    batch_size = int(os.environ.get("BENCH_W5_BATCH_SIZE", ProcessApplication.batch_size))

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        dog_id = domain_event.originator_id
        try:
            counter = cast(TrickCounter, self.repository.get(TrickCounter.create_id(dog_id)))
        except AggregateNotFound:
            counter = TrickCounter(dog_id)
        if isinstance(domain_event, Dog.TrickAdded):  # type: ignore[attr-defined]  # made by @event
            counter.count_trick()
        processing_event.collect_events(counter)

    def follow_leader(self, leader: harness.BenchApp) -> None:
        school = cast(DogSchool, leader)
        self.follow(school.name, school.notification_log, school.mapper)

    def process_up_to(self, stop: int) -> None:
        self.pull_and_process(DogSchool.name, stop=stop)

    def position(self) -> int | None:
        return self.recorder.max_tracking_id(DogSchool.name)

    def tricks_counted(self, dog_id: UUID) -> int:
        counter = cast(TrickCounter, self.repository.get(TrickCounter.create_id(dog_id)))
        return counter.count


STORES = {
    "memory": harness.Store(env=lambda scratch: {"PERSISTENCE_MODULE": "retell.memory"}),
    "sqlite": harness.Store(
        env=lambda scratch: {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(scratch)}
    ),
    # The same store, with every commit waiting for the disk (retell's default is NORMAL).
    "sqlite-full": harness.Store(
        env=lambda scratch: {
            "PERSISTENCE_MODULE": "retell.sqlite",
            "SQLITE_DBNAME": str(scratch),
            "SQLITE_SYNCHRONOUS": "FULL",
        }
    ),
    "postgres": fixtures.postgres_store(POSTGRES_SCHEMA, "retell.postgres"),
    "django-sqlite": fixtures.django_store(DJANGO_SETTINGS, "default", "retell.django"),
    "django-postgres": fixtures.django_store(DJANGO_SETTINGS, "postgres", "retell.django"),
}


def settings(store: str) -> dict[str, str]:
    """What else decides the figures on a store, for the JSON."""
    found = {"follower_page_size": str(TrickCounters.page_size)}
    if store.startswith("sqlite"):
        found["sqlite_synchronous"] = "FULL" if store == "sqlite-full" else "NORMAL"
    if store.startswith("django"):
        found["django"] = fixtures.django_version()
    return found


def open_app(env: dict[str, str]) -> harness.BenchApp:
    """A DogSchool on the store that `env` names."""
    return DogSchool(env=env)


def open_follower(env: dict[str, str]) -> harness.BenchFollower:
    """W5's follower on the store that `env` names."""
    return TrickCounters(env=env)


LIBRARY = harness.Library(
    name="retell",
    version=version("retell"),
    stores=STORES,
    open_app=open_app,
    open_follower=open_follower,
    settings=settings,
)


if __name__ == "__main__":
    harness.main(LIBRARY)
