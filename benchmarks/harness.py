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
import itertools
import json
import math
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
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

PAGE_SIZE = 500
W3_MIN_RUN_SECONDS = 0.05
TRICKS_PER_DOG = 9
EVENTS_PER_DOG = 1 + TRICKS_PER_DOG


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does. The quick sizes make a smoke run of seconds.

    The `*_max_seconds` caps bound the slow stores' run time: W1, W4 and W5 stop after
    the dog (or page of events) during which their cap ran out, and report the rate of
    what they did. On a fast store the cap is never reached; on a slow one the rate
    is measured over several seconds of steady work, which is all a rate needs.

    `w1_min_seconds` is the other bound. W1 goes on, `w1_dogs` more dogs at a time,
    until that much time has passed. On a fast store a single round is over in under
    a second, and then a second's hiccup on a shared machine would move the figure by
    a third.
    """

    w1_dogs: int
    w1_warmup_dogs: int
    w1_min_seconds: float
    w1_max_seconds: float
    w2_events: int
    w2_runs: int
    w3_events: int
    w3_events_per_save: int
    w3_runs: int
    w4_threads: int
    w4_dogs_per_thread: int
    w4_max_seconds: float
    w5_dogs: int
    w5_events_per_call: int
    w5_max_seconds: float


FULL = Sizes(
    w1_dogs=2_000,
    w1_warmup_dogs=20,
    w1_min_seconds=3.0,
    w1_max_seconds=10.0,
    w2_events=1_000,
    w2_runs=21,
    w3_events=100_000,
    w3_events_per_save=100,
    w3_runs=7,
    w4_threads=4,
    w4_dogs_per_thread=500,
    w4_max_seconds=10.0,
    w5_dogs=2_000,
    w5_events_per_call=1_000,
    w5_max_seconds=15.0,
)

QUICK = Sizes(
    w1_dogs=50,
    w1_warmup_dogs=5,
    w1_min_seconds=0.0,
    w1_max_seconds=2.0,
    w2_events=1_000,
    w2_runs=3,
    w3_events=5_000,
    w3_events_per_save=100,
    w3_runs=3,
    w4_threads=4,
    w4_dogs_per_thread=10,
    w4_max_seconds=2.0,
    w5_dogs=50,
    w5_events_per_call=100,
    w5_max_seconds=2.0,
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


class BenchFollower(Protocol):
    """W5's process application: it follows a dog school and counts each dog's tricks.

    Its policy, on each upstream event of a dog, gets the dog's counter aggregate from
    its repository (creating it when there is none), counts a trick for a TrickAdded,
    and hands the counter back to be saved with the tracking position.
    """

    def follow_leader(self, leader: BenchApp) -> None:
        """Follow the dog school `leader` (the library's `follow(name, log, ...)`)."""
        ...

    def process_up_to(self, stop: int) -> None:
        """Pull and process the leader's events after its position, up to `stop`."""
        ...

    def position(self) -> int | None:
        """The last leader position recorded by its tracking (`max_tracking_id`)."""
        ...

    def tricks_counted(self, dog_id: UUID) -> int:
        """How many tricks the counter of the dog `dog_id` has counted."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...


def _nothing() -> None:
    """The default hook: a store with nothing to set up or clean up."""


@dataclass(frozen=True)
class Store:
    """One kind of store as a library opens it.

    `env` gives an application's configuration, given a scratch file path that is new
    for every workload and every application in it (file-based stores use it; others
    ignore it). `setup` runs before each workload's applications are constructed and
    `teardown` after they are closed: they give every workload an empty store, so no
    workload sees another's events. `thread_done` runs at the end of each of W4's
    threads, in the thread (Django closes the thread's connections there), and
    `finish` once after the last workload (to drop what `setup` made once).
    """

    env: Callable[[Path], dict[str, str]]
    setup: Callable[[], None] = _nothing
    teardown: Callable[[], None] = _nothing
    thread_done: Callable[[], None] = _nothing
    finish: Callable[[], None] = _nothing


@dataclass(frozen=True)
class Library:
    """One side of the comparison: its name, version, stores, and application factories.

    `settings` says, per store, what else decides the figures (a pragma the library
    leaves at SQLite's default, a page size), so that the JSON records it.
    """

    name: str
    version: str
    stores: Mapping[str, Store]
    open_app: Callable[[dict[str, str]], BenchApp]
    open_follower: Callable[[dict[str, str]], BenchFollower]
    settings: Callable[[str], dict[str, str]] = lambda store: {}


@dataclass
class Bench:
    """What a workload works on: an application on an empty store, and a way to add a
    follower on the same kind of store (closed by `fresh_bench` before the teardown)."""

    app: BenchApp
    sizes: Sizes
    store: Store
    library: Library
    scratch: Path
    followers: list[BenchFollower] = field(default_factory=list)

    def open_follower(self) -> BenchFollower:
        """A follower on the store, in a scratch file of its own where the store has files."""
        follower = self.library.open_follower(
            self.store.env(self.scratch.with_name(self.scratch.stem + "-follower.sqlite"))
        )
        self.followers.append(follower)
        return follower


@dataclass
class CheckResult:
    """The verdict of an integrity check, with the first few problems found."""

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
def fresh_bench(library: Library, store_name: str, scratch: Path, sizes: Sizes) -> Iterator[Bench]:
    """An application on an empty store; it and its followers are closed, then cleaned up."""
    store = library.stores[store_name]
    store.setup()
    try:
        bench = Bench(library.open_app(store.env(scratch)), sizes, store, library, scratch)
        try:
            yield bench
        finally:
            for follower in bench.followers:
                follower.close()
            bench.app.close()
    finally:
        store.teardown()


def timed(action: Callable[[], object]) -> float:
    """Seconds taken by `action`, after a garbage collection so no earlier work is billed."""
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_dog_school(app: BenchApp, names: Sequence[str], deadline: float = math.inf) -> list[UUID]:
    """The dog-school commands: register each dog, then add its tricks one command each.

    Stops after the dog during which `deadline` (a `perf_counter` time) passed; returns
    the ids of the dogs it completed.
    """
    dog_ids = []
    for name in names:
        dog_id = app.register(name)
        for number in range(1, TRICKS_PER_DOG + 1):
            app.add_trick(dog_id, trick_name(number))
        dog_ids.append(dog_id)
        if time.perf_counter() > deadline:
            break
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


def w1_commands(bench: Bench) -> dict[str, Any]:
    """W1: dog-school commands per second, one thread, one save per command."""
    app, sizes = bench.app, bench.sizes
    run_dog_school(app, [f"warmup-{i}" for i in range(sizes.w1_warmup_dogs)])
    gc.collect()
    done: list[UUID] = []
    started = time.perf_counter()
    for number in itertools.count():
        names = [f"dog-{number}-{i}" for i in range(sizes.w1_dogs)]
        done += run_dog_school(app, names, started + sizes.w1_max_seconds)
        seconds = time.perf_counter() - started
        if len(done) % sizes.w1_dogs or seconds >= sizes.w1_min_seconds:
            break
    commands = len(done) * EVENTS_PER_DOG
    return {
        "commands": commands,
        "seconds": seconds,
        "commands_per_sec": commands / seconds,
        "capped": len(done) < sizes.w1_dogs,
    }


def w2_rebuild(bench: Bench) -> dict[str, Any]:
    """W2: milliseconds to rebuild one dog that has w2_events events (median of runs)."""
    app, sizes = bench.app, bench.sizes
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


def w3_read_log(bench: Bench) -> dict[str, Any]:
    """W3: notifications read per second, whole log in pages of PAGE_SIZE (median run).

    A store that reads the whole log in well under a millisecond would be timed mostly
    by the clock's noise, so each timed run reads the log as many times as fill about
    W3_MIN_RUN_SECONDS (the same count for every run of a side) and is divided back.
    """
    app, sizes = bench.app, bench.sizes
    dogs = sizes.w3_events // sizes.w3_events_per_save
    for i in range(dogs):
        app.populate(f"reader-{i}", sizes.w3_events_per_save - 1)
    expected = dogs * sizes.w3_events_per_save
    counted = count_log(app)
    if counted != expected:
        raise AssertionError(f"log has {counted} notifications, not {expected}")
    reads = max(1, math.ceil(W3_MIN_RUN_SECONDS / timed(lambda: count_log(app))))
    runs = [
        timed(lambda: [count_log(app) for _ in range(reads)]) / reads for _ in range(sizes.w3_runs)
    ]
    median = statistics.median(runs)
    return {
        "notifications": expected,
        "page_size": PAGE_SIZE,
        "runs": sizes.w3_runs,
        "reads_per_run": reads,
        "median_seconds": median,
        "notifications_per_sec": expected / median,
    }


def w4_threads(bench: Bench) -> dict[str, Any]:
    """W4: commands per second from several threads, each on its own dogs, then a check."""
    app, sizes = bench.app, bench.sizes
    barrier = threading.Barrier(sizes.w4_threads + 1)
    deadline = [math.inf]
    dog_ids: list[list[UUID]] = [[] for _ in range(sizes.w4_threads)]
    errors: list[str] = []

    def worker(index: int) -> None:
        names = [f"thread-{index}-dog-{i}" for i in range(sizes.w4_dogs_per_thread)]
        barrier.wait()
        try:
            dog_ids[index] = run_dog_school(app, names, deadline[0])
        except Exception:
            errors.append(traceback.format_exc(limit=5))
        finally:
            bench.store.thread_done()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sizes.w4_threads)]
    for thread in threads:
        thread.start()
    gc.collect()
    started = time.perf_counter()
    deadline[0] = started + sizes.w4_max_seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    done = [dog_id for ids in dog_ids for dog_id in ids]
    commands = len(done) * EVENTS_PER_DOG
    check = check_integrity(app, done, commands, errors)
    return {
        "threads": sizes.w4_threads,
        "commands": commands,
        "seconds": seconds,
        "commands_per_sec": commands / seconds,
        "capped": len(done) < sizes.w4_threads * sizes.w4_dogs_per_thread,
        "check": "OK" if check.ok else "FAIL",
        "problems": check.problems,
    }


def w5_follower(bench: Bench) -> dict[str, Any]:
    """W5: upstream events a follower processes per second while catching up, then a check.

    The leader's log is filled first (w5_dogs dogs of EVENTS_PER_DOG events, one save
    each); then the follower, started from nothing, pulls and processes it. It is asked
    for w5_events_per_call events at a time (`pull_and_process(..., stop=...)`), so that
    the w5_max_seconds cap can stop it between calls; each call reads the log in pages
    as the library does.
    """
    app, sizes = bench.app, bench.sizes
    for i in range(sizes.w5_dogs):
        app.populate(f"followed-{i}", TRICKS_PER_DOG)
    notifications = read_log(app)
    expected = sizes.w5_dogs * EVENTS_PER_DOG
    if len(notifications) != expected:
        raise AssertionError(f"log has {len(notifications)} notifications, not {expected}")
    step = sizes.w5_events_per_call
    stops = [notifications[min(i + step, expected) - 1].id for i in range(0, expected, step)]
    follower = bench.open_follower()
    follower.follow_leader(app)
    gc.collect()
    started = time.perf_counter()
    deadline = started + sizes.w5_max_seconds
    reached = 0
    for stop in stops:
        follower.process_up_to(stop)
        reached = stop
        if time.perf_counter() > deadline:
            break
    seconds = time.perf_counter() - started
    processed = sum(1 for n in notifications if n.id <= reached)
    check = check_follower(follower, notifications, reached)
    return {
        "events": processed,
        "seconds": seconds,
        "events_per_sec": processed / seconds,
        "capped": processed < expected,
        "check": "OK" if check.ok else "FAIL",
        "problems": check.problems,
    }


def check_follower(
    follower: BenchFollower, notifications: Sequence[Notification], reached: int
) -> CheckResult:
    """The follower's position is where it was asked to stop, and each dog processed in
    full has its 9 tricks counted, exactly once each."""
    check = CheckResult()
    position = follower.position()
    if position != reached:
        check.fail(f"follower's tracking position is {position}, expected {reached}")
    last_of_dog: dict[UUID, int] = {}
    for notification in notifications:
        last_of_dog[notification.originator_id] = notification.id
    for dog_id, last in last_of_dog.items():
        if last <= reached and (counted := follower.tricks_counted(dog_id)) != TRICKS_PER_DOG:
            check.fail(f"dog {dog_id}: {counted} tricks counted, not {TRICKS_PER_DOG}")
    return check


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
    for before, after in itertools.pairwise(notifications):
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


WORKLOADS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "w1": w1_commands,
    "w2": w2_rebuild,
    "w3": w3_read_log,
    "w4": w4_threads,
    "w5": w5_follower,
}


@contextmanager
def _finishing(store: Store) -> Iterator[None]:
    """Run the store's `finish` hook at the end, whatever happened."""
    try:
        yield
    finally:
        store.finish()


def run_workloads(
    library: Library, store_name: str, sizes: Sizes, only: Sequence[str] = ()
) -> dict[str, Any]:
    """Every workload on its own empty store; a workload that raises is reported, not fatal."""
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{library.name}-") as scratch,
        _finishing(library.stores[store_name]),
    ):
        for key, workload in WORKLOADS.items():
            if only and key not in only:
                continue
            log(f"[{library.name} {store_name}] {key} ...")
            try:
                path = Path(scratch) / f"{key}.sqlite"
                with fresh_bench(library, store_name, path, sizes) as bench:
                    results[key] = workload(bench)
            except Exception as error:
                message = f"{type(error).__name__}: {error}"
                seen = any(figures.get("error") == message for figures in results.values())
                log(f"  {key} failed as before: {message}" if seen else traceback.format_exc())
                results[key] = {"error": message}
    return results


def main(library: Library, argv: Sequence[str] | None = None) -> None:
    """Command line of a workload script: run one store, print one JSON object on stdout."""
    parser = argparse.ArgumentParser(description=f"Benchmark workloads on {library.name}.")
    parser.add_argument("--store", required=True, help="one store name")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--workloads", default="", help="comma-separated, e.g. w1,w5 (default: all)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = [key.strip() for key in args.workloads.split(",") if key.strip()]
    output: dict[str, Any] = {
        "library": library.name,
        "version": library.version,
        "python": platform.python_version(),
        "store": args.store,
        "sizes": asdict(sizes),
    }
    if args.store in library.stores:
        output["settings"] = library.settings(args.store)
        output["results"] = run_workloads(library, args.store, sizes, only)
    else:
        output["skipped"] = f"{library.name} has no store named {args.store!r}"
    print(json.dumps(output))
