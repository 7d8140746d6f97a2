"""The measuring half of the benchmark, shared by retell's side and the reference's side.

Each side is a small script (`retell_workload.py`, `reference_workload.py`) that
describes its library as a `Library` and hands it to `main()`. Everything that is
timed or checked lives here, so both libraries are driven by the very same loops,
clocks, sizes and checks, and differ only in the few calls the adapters make.

This module imports nothing but the standard library: it runs under retell's
virtual environment and under the reference library's separate one alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

PAGE_SIZE = 500
TRICKS_PER_DOG = 9
EVENTS_PER_DOG = 1 + TRICKS_PER_DOG


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does. The quick sizes make a smoke run of seconds."""

    w1_dogs: int
    w1_warmup_dogs: int
    w2_events: int
    w2_runs: int
    w3_events: int
    w3_events_per_save: int
    w3_runs: int
    w4_threads: int
    w4_dogs_per_thread: int


FULL = Sizes(
    w1_dogs=2_000,
    w1_warmup_dogs=20,
    w2_events=1_000,
    w2_runs=21,
    w3_events=100_000,
    w3_events_per_save=100,
    w3_runs=7,
    w4_threads=4,
    w4_dogs_per_thread=500,
)

QUICK = Sizes(
    w1_dogs=50,
    w1_warmup_dogs=5,
    w2_events=1_000,
    w2_runs=3,
    w3_events=5_000,
    w3_events_per_save=100,
    w3_runs=3,
    w4_threads=4,
    w4_dogs_per_thread=10,
)


class Notification(Protocol):
    """What the checks read from one item of the notification log."""

    @property
    def id(self) -> int: ...

    @property
    def originator_id(self) -> Any: ...

    @property
    def originator_version(self) -> int: ...


class DogView(Protocol):
    """What the checks read from a rebuilt dog."""

    @property
    def version(self) -> int: ...

    @property
    def tricks(self) -> list[str]: ...


class BenchApp(Protocol):
    """The few operations the workloads perform; each adapter maps them onto its library.

    The adapters keep these as thin as one library call each, so that the per-call cost
    of the adapter layer is the same, and negligible, on both sides.
    """

    def register(self, name: str) -> UUID:
        """Create a dog and save it (one command, one save)."""
        ...

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        """Get the dog from the repository, add a trick, save (one command)."""
        ...

    def populate(self, name: str, tricks: int) -> UUID:
        """Create a dog with `tricks` tricks and save all its events in one save."""
        ...

    def get(self, dog_id: UUID) -> DogView:
        """Rebuild the dog from its events (`repository.get`)."""
        ...

    def select_notifications(self, start: int, limit: int) -> Sequence[Notification]:
        """One page of the notification log (`recorder.select_notifications`)."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...


@dataclass(frozen=True)
class Store:
    """One kind of store as a library opens it.

    `env` gives the application's configuration, given a scratch file path that is new
    for every workload (file-based stores use it; others ignore it). `setup` runs before
    each workload's application is constructed and `teardown` after it is closed: they
    give every workload an empty store, so no workload sees another's events.
    """

    env: Callable[[Path], dict[str, str]]
    setup: Callable[[], None] = lambda: None
    teardown: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Library:
    """One side of the comparison: its name, version, stores, and application factory."""

    name: str
    version: str
    stores: Mapping[str, Store]
    open_app: Callable[[dict[str, str]], BenchApp]


@dataclass
class CheckResult:
    """The verdict of the W4 integrity check, with the first few problems found."""

    ok: bool = True
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        """Record a problem; keep only the first few so the JSON stays readable."""
        self.ok = False
        if len(self.problems) < 10:
            self.problems.append(problem)


def log(message: str) -> None:
    """Progress goes to stderr: stdout carries nothing but the JSON result."""
    print(message, file=sys.stderr, flush=True)


def trick_name(number: int) -> str:
    """The n-th trick a dog learns; the W4 check expects exactly these, in order."""
    return f"trick-{number}"


@contextmanager
def fresh_app(library: Library, store_name: str, scratch: Path) -> Iterator[BenchApp]:
    """An application on an empty store, closed and cleaned up afterwards."""
    store = library.stores[store_name]
    store.setup()
    try:
        app = library.open_app(store.env(scratch))
        try:
            yield app
        finally:
            app.close()
    finally:
        store.teardown()


def timed(action: Callable[[], object]) -> float:
    """Seconds taken by `action`, after a garbage collection so no earlier work is billed."""
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_dog_school(app: BenchApp, names: Sequence[str]) -> list[UUID]:
    """The dog-school commands: register each dog, then add its tricks one command each."""
    dog_ids = []
    for name in names:
        dog_id = app.register(name)
        for number in range(1, TRICKS_PER_DOG + 1):
            app.add_trick(dog_id, trick_name(number))
        dog_ids.append(dog_id)
    return dog_ids


def read_log(app: BenchApp) -> list[Notification]:
    """The whole notification log, read in pages of PAGE_SIZE from the start."""
    notifications: list[Notification] = []
    start = 1
    while True:
        page = app.select_notifications(start, PAGE_SIZE)
        notifications.extend(page)
        if len(page) < PAGE_SIZE:
            return notifications
        start = page[-1].id + 1


def count_log(app: BenchApp) -> int:
    """Read the whole log page by page, keeping only a count: what W3 times."""
    total = 0
    start = 1
    while True:
        page = app.select_notifications(start, PAGE_SIZE)
        total += len(page)
        if len(page) < PAGE_SIZE:
            return total
        start = page[-1].id + 1


def w1_commands(app: BenchApp, sizes: Sizes) -> dict[str, float]:
    """W1: dog-school commands per second, one thread, one save per command."""
    run_dog_school(app, [f"warmup-{i}" for i in range(sizes.w1_warmup_dogs)])
    names = [f"dog-{i}" for i in range(sizes.w1_dogs)]
    seconds = timed(lambda: run_dog_school(app, names))
    commands = sizes.w1_dogs * EVENTS_PER_DOG
    return {"commands": commands, "seconds": seconds, "commands_per_sec": commands / seconds}


def w2_rebuild(app: BenchApp, sizes: Sizes) -> dict[str, float]:
    """W2: milliseconds to rebuild one dog that has w2_events events (median of runs)."""
    dog_id = app.populate("long-lived", sizes.w2_events - 1)
    version = app.get(dog_id).version
    if version != sizes.w2_events:
        raise AssertionError(f"rebuilt dog has version {version}, not {sizes.w2_events}")
    runs_ms = [timed(lambda: app.get(dog_id)) * 1000 for _ in range(sizes.w2_runs)]
    return {
        "events": sizes.w2_events,
        "runs": sizes.w2_runs,
        "median_ms": statistics.median(runs_ms),
        "min_ms": min(runs_ms),
    }


def w3_read_log(app: BenchApp, sizes: Sizes) -> dict[str, float]:
    """W3: notifications read per second, whole log in pages of PAGE_SIZE (median run)."""
    dogs = sizes.w3_events // sizes.w3_events_per_save
    for i in range(dogs):
        app.populate(f"reader-{i}", sizes.w3_events_per_save - 1)
    expected = dogs * sizes.w3_events_per_save
    counted = count_log(app)
    if counted != expected:
        raise AssertionError(f"log has {counted} notifications, not {expected}")
    runs = [timed(lambda: count_log(app)) for _ in range(sizes.w3_runs)]
    median = statistics.median(runs)
    return {
        "notifications": expected,
        "page_size": PAGE_SIZE,
        "runs": sizes.w3_runs,
        "median_seconds": median,
        "notifications_per_sec": expected / median,
    }


def w4_threads(app: BenchApp, sizes: Sizes) -> dict[str, Any]:
    """W4: commands per second from several threads, each on its own dogs, then a check."""
    barrier = threading.Barrier(sizes.w4_threads + 1)
    dog_ids: list[list[UUID]] = [[] for _ in range(sizes.w4_threads)]
    errors: list[str] = []

    def worker(index: int) -> None:
        names = [f"thread-{index}-dog-{i}" for i in range(sizes.w4_dogs_per_thread)]
        barrier.wait()
        try:
            dog_ids[index] = run_dog_school(app, names)
        except Exception:
            errors.append(traceback.format_exc(limit=5))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sizes.w4_threads)]
    for thread in threads:
        thread.start()
    gc.collect()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    commands = sizes.w4_threads * sizes.w4_dogs_per_thread * EVENTS_PER_DOG
    check = check_integrity(app, [i for ids in dog_ids for i in ids], commands, errors)
    return {
        "threads": sizes.w4_threads,
        "commands": commands,
        "seconds": seconds,
        "commands_per_sec": commands / seconds,
        "check": "OK" if check.ok else "FAIL",
        "problems": check.problems,
    }


def check_integrity(
    app: BenchApp, dog_ids: list[UUID], expected: int, errors: list[str]
) -> CheckResult:
    """No event lost or reordered: the log is gapless and complete, every dog is 1..10."""
    check = CheckResult()
    for error in errors:
        check.fail(f"a thread raised: {error}")
    notifications = read_log(app)
    check_log_ids(notifications, expected, check)
    check_log_versions(notifications, set(dog_ids), check)
    check_rebuilt_dogs(app, dog_ids, check)
    return check


def check_log_ids(notifications: Sequence[Notification], expected: int, check: CheckResult) -> None:
    """Ids strictly increasing with no gaps, and exactly the expected number of events."""
    if len(notifications) != expected:
        check.fail(f"log has {len(notifications)} notifications, expected {expected}")
    for before, after in pairwise(notifications):
        if after.id != before.id + 1:
            check.fail(f"notification id {after.id} follows {before.id}")


def check_log_versions(
    notifications: Sequence[Notification], dog_ids: set[UUID], check: CheckResult
) -> None:
    """In log order, each dog's events have versions 1..10 and come from our dogs only."""
    versions: dict[str, list[int]] = {}
    for notification in notifications:
        versions.setdefault(str(notification.originator_id), []).append(
            notification.originator_version
        )
    if set(versions) != {str(dog_id) for dog_id in dog_ids}:
        check.fail(f"log names {len(versions)} aggregates, {len(dog_ids)} dogs were registered")
    wanted = list(range(1, EVENTS_PER_DOG + 1))
    for originator_id, found in versions.items():
        if found != wanted:
            check.fail(f"dog {originator_id} has versions {found} in the log")


def check_rebuilt_dogs(app: BenchApp, dog_ids: Sequence[UUID], check: CheckResult) -> None:
    """Each dog rebuilt from the repository has version 10 and its tricks in order."""
    wanted = [trick_name(number) for number in range(1, TRICKS_PER_DOG + 1)]
    for dog_id in dog_ids:
        dog = app.get(dog_id)
        if dog.version != EVENTS_PER_DOG or list(dog.tricks) != wanted:
            check.fail(f"dog {dog_id} rebuilt at version {dog.version} with {dog.tricks}")


WORKLOADS: dict[str, Callable[[BenchApp, Sizes], dict[str, Any]]] = {
    "w1": w1_commands,
    "w2": w2_rebuild,
    "w3": w3_read_log,
    "w4": w4_threads,
}


def run_workloads(library: Library, store_name: str, sizes: Sizes) -> dict[str, Any]:
    """Every workload on its own empty store; a workload that raises is reported, not fatal."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-{library.name}-") as scratch:
        for key, workload in WORKLOADS.items():
            log(f"[{library.name} {store_name}] {key} ...")
            try:
                with fresh_app(library, store_name, Path(scratch) / f"{key}.sqlite") as app:
                    results[key] = workload(app, sizes)
            except Exception as error:
                log(traceback.format_exc())
                results[key] = {"error": f"{type(error).__name__}: {error}"}
    return results


def main(library: Library, argv: Sequence[str] | None = None) -> None:
    """Command line of a workload script: run one store, print one JSON object on stdout."""
    parser = argparse.ArgumentParser(description=f"Benchmark workloads on {library.name}.")
    parser.add_argument("--store", required=True, help="one store name")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    output: dict[str, Any] = {
        "library": library.name,
        "version": library.version,
        "python": platform.python_version(),
        "store": args.store,
        "sizes": asdict(sizes),
    }
    if args.store in library.stores:
        output["results"] = run_workloads(library, args.store, sizes)
    else:
        output["skipped"] = f"{library.name} has no store named {args.store!r}"
    print(json.dumps(output))
