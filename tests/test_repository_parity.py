"""The repository and its cache as the reference library has them, on every store.

Versions beyond the latest, projector functions for immutable aggregates, snapshots
of them, and the cache settings AGGREGATE_CACHE_FASTFORWARD,
AGGREGATE_CACHE_FASTFORWARD_SKIPPING and DEEPCOPY_FROM_AGGREGATE_CACHE.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from retell import AggregateNotFound, Application, ConcurrencyError
from retell.application import EventStore, ProjectorFunction, Repository, project_aggregate
from retell.domain import DomainEvent, Snapshot
from retell.domain.events import utcnow
from retell.errors import RetellError
from tests.dogschool import Dog, TrainingSchool

# --- An immutable aggregate, folded by a function (the reference's functional style) ---


class DogRegistered(DomainEvent, frozen=True, kw_only=True):
    name: str


class TrickAdded(DomainEvent, frozen=True, kw_only=True):
    trick: str


@dataclass(frozen=True)
class FrozenDog:
    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime
    name: str
    tricks: tuple[str, ...]

    def collect_events(self) -> list[DomainEvent]:
        """The events that made this object, given up once (kept off the dataclass fields)."""
        events: list[DomainEvent] = self.__dict__.pop("_new_events", [])
        return events


seen_by_projector: list[list[type]] = []


def project_dog(dog: FrozenDog | None, events: Iterable[Any]) -> FrozenDog | None:
    events = list(events)
    seen_by_projector.append([type(e) for e in events])
    for e in events:
        if isinstance(e, Snapshot):
            dog = FrozenDog(**{**e.state, "tricks": tuple(e.state["tricks"])})
        elif isinstance(e, DogRegistered):
            dog = FrozenDog(e.originator_id, 1, e.timestamp, e.timestamp, e.name, ())
        elif isinstance(e, TrickAdded):
            assert dog is not None
            dog = replace(
                dog,
                version=e.originator_version,
                modified_on=e.timestamp,
                tricks=(*dog.tricks, e.trick),
            )
    return dog


def _holding(dog: FrozenDog | None, event: DomainEvent) -> FrozenDog:
    new = project_dog(dog, [event])
    assert new is not None
    object.__setattr__(new, "_new_events", [event])
    return new


def register_dog(name: str) -> FrozenDog:
    return _holding(
        None,
        DogRegistered(originator_id=uuid4(), originator_version=1, timestamp=utcnow(), name=name),
    )


def add_trick(dog: FrozenDog, trick: str) -> FrozenDog:
    event = TrickAdded(
        originator_id=dog.id, originator_version=dog.version + 1, timestamp=utcnow(), trick=trick
    )
    return _holding(dog, event)


class FunctionalSchool(Application):
    """Written as the reference's users write it, with the imports changed."""

    is_snapshotting_enabled = True
    snapshotting_intervals = {FrozenDog: 3}
    snapshotting_projectors: dict[type, ProjectorFunction[Any, Any]] = {FrozenDog: project_dog}

    def register(self, name: str) -> UUID:
        dog = register_dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        self.save(add_trick(self.repository.get(dog_id, projector_func=project_dog), trick))

    def tricks(self, dog_id: UUID) -> tuple[str, ...]:
        return self.repository.get(dog_id, projector_func=project_dog).tricks  # type: ignore[no-any-return]


# --- get(): versions and projector functions -------------------------------------------


def test_a_version_beyond_the_latest_gives_the_latest(store_env: dict[str, str]) -> None:
    with TrainingSchool(env=store_env) as school:
        dog_id = school.register("Fido")
        school.add_trick("Fido", "sit")
        assert school.repository.get(dog_id, version=2).tricks == ["sit"]
        assert school.repository.get(dog_id, version=99).version == 2
        for version in (0, -1):
            with pytest.raises(AggregateNotFound, match="versions start at 1"):
                school.repository.get(dog_id, version=version)
        with pytest.raises(AggregateNotFound, match="no aggregate with id"):
            school.repository.get(uuid4(), version=3)


def test_immutable_aggregates_are_saved_and_folded_by_a_projector(
    store_env: dict[str, str],
) -> None:
    with FunctionalSchool(env={**store_env, "IS_SNAPSHOTTING_ENABLED": "n"}) as school:
        dog_id = school.register("Fido")
        school.add_trick(dog_id, "roll over")
        school.add_trick(dog_id, "play dead")
        assert school.tricks(dog_id) == ("roll over", "play dead")
        dog = school.repository.get(dog_id, projector_func=project_dog)
        assert isinstance(dog, FrozenDog) and (dog.name, dog.version) == ("Fido", 3)
        old = school.repository.get(dog_id, version=2, projector_func=project_dog)
        assert (old.tricks, old.version) == (("roll over",), 2)
        assert dog_id in school.repository
        assert [n.topic.rsplit(":", 1)[1] for n in school.notification_log.select(1, 9)] == [
            "DogRegistered",
            "TrickAdded",
            "TrickAdded",
        ]
        # Bare events, as the reference's most functional style saves them; None skipped.
        event = TrickAdded(
            originator_id=dog_id, originator_version=4, timestamp=utcnow(), trick="fetch"
        )
        recordings = school.save(None, event)
        assert [r.domain_event for r in recordings] == [event]
        assert school.tricks(dog_id)[-1] == "fetch"

        with pytest.raises(AggregateNotFound, match=f"gave no aggregate for id {dog_id}"):
            school.repository.get(dog_id, projector_func=lambda dog, events: None)
        with pytest.raises(RetellError, match=r"no mutate\(\).*projector_func"):
            school.repository.get(dog_id)
        with pytest.raises(RetellError, match="takes aggregates and events, not 42"):
            school.save(add_trick(dog, "x"), 42)
        assert school.repository.get(dog_id, projector_func=project_dog).version == 4


def test_a_projector_rebuilds_mutable_aggregates_too(store_env: dict[str, str]) -> None:
    def count_events(state: dict[str, Any] | None, events: Iterable[Any]) -> dict[str, Any]:
        state = dict(state or {"tricks": 0})
        for e in events:
            state["version"] = e.originator_version
            state["tricks"] += isinstance(e, Dog.TrickAdded)
        return state

    with TrainingSchool(env=store_env) as school:
        dog_id = school.register("Fido")
        school.add_trick("Fido", "sit")
        school.add_trick("Fido", "stay")
        assert school.repository.get(dog_id, projector_func=count_events) == {
            "tricks": 2,
            "version": 3,
        }
        assert school.repository.get(dog_id, projector_func=project_aggregate).tricks == [
            "sit",
            "stay",
        ]


def test_take_snapshot_with_a_projector(store_env: dict[str, str]) -> None:
    with FunctionalSchool(env=store_env) as school:
        school.snapshotting_intervals = {}  # snapshots only when taken here
        dog_id = school.register("Fido")
        for trick in ["roll over", "play dead", "fetch"]:
            school.add_trick(dog_id, trick)
        school.take_snapshot(dog_id, version=3, projector_func=project_dog)
        assert school.snapshots is not None
        [snapshot] = school.snapshots.get(dog_id)
        assert isinstance(snapshot, Snapshot) and snapshot.originator_version == 3
        assert snapshot.state["name"] == "Fido" and snapshot.state["id"] == dog_id
        seen_by_projector.clear()
        assert school.tricks(dog_id) == ("roll over", "play dead", "fetch")
        # Rebuilt from the snapshot and the one event after it.
        assert seen_by_projector == [[Snapshot, TrickAdded]]
        seen_by_projector.clear()
        assert school.repository.get(dog_id, version=2, projector_func=project_dog).version == 2
        assert seen_by_projector == [[DogRegistered, TrickAdded]]  # before the snapshot
        school.add_trick(dog_id, "beg")
        assert school.tricks(dog_id)[-1] == "beg"
        with pytest.raises(RetellError, match=r"FrozenDog is not an Aggregate.*projector_func"):
            school.take_snapshot(dog_id)
        with pytest.raises(RetellError, match=r"FrozenDog is not an Aggregate.*projector_func"):
            school.repository.get(dog_id)


def test_automatic_snapshots_of_immutable_aggregates(store_env: dict[str, str]) -> None:
    with FunctionalSchool(env=store_env) as school:
        dog_id = school.register("Fido")
        school.add_trick(dog_id, "a")
        seen_by_projector.clear()
        school.add_trick(dog_id, "b")  # version 3: snapshotted, rebuilt from what is recorded
        assert seen_by_projector[-1] == [DogRegistered, TrickAdded, TrickAdded]
        for trick in "cde":
            school.add_trick(dog_id, trick)
        assert school.snapshots is not None
        assert [s.originator_version for s in school.snapshots.get(dog_id)] == [3, 6]
        seen_by_projector.clear()
        assert school.tricks(dog_id) == tuple("abcde")
        assert seen_by_projector == [[Snapshot]]


def test_snapshotting_switched_on_by_the_class_attribute(store_env: dict[str, str]) -> None:
    class Snapshotting(TrainingSchool):
        is_snapshotting_enabled = True

    with Snapshotting(env=store_env) as school:
        dog_id = school.register("Fido")
        school.add_trick("Fido", "sit")
        school.take_snapshot(dog_id)
        assert school.snapshots is not None
        assert [s.originator_version for s in school.snapshots.get(dog_id)] == [2]
    with Snapshotting(env={**store_env, "IS_SNAPSHOTTING_ENABLED": "n"}) as school:
        assert school.snapshots is None


def test_the_deprecated_log_name_is_the_notification_log() -> None:
    school = TrainingSchool()
    with pytest.warns(DeprecationWarning, match="use 'notification_log'"):
        assert school.log is school.notification_log


# --- The cache: fast-forwarding -------------------------------------------------------


def _cached_school(store_env: dict[str, str], **settings: str) -> TrainingSchool:
    return TrainingSchool(env={**store_env, "AGGREGATE_CACHE_MAXSIZE": "100", **settings})


def _behind_the_cache(school: Application, dog_id: UUID, trick: str) -> None:
    """Record a trick as another writer would: past this application's cache."""
    dog = Repository(school.events).get(dog_id)
    dog.add_trick(trick)
    school.events.put(dog.collect_events())


class CountingEventStore(EventStore):
    """The application's own store, counting the fast-forward queries (those with `gt`)."""

    def __init__(self, events: EventStore) -> None:
        super().__init__(events.mapper, events.recorder)
        self.after: list[int] = []  # the versions the queries asked for events after

    @property
    def queries(self) -> int:
        return len(self.after)

    def get(self, originator_id: UUID, *, gt: int | None = None, **kwargs: Any) -> Any:
        if gt is not None:
            self.after.append(gt)
        return super().get(originator_id, gt=gt, **kwargs)


def _count_queries(school: Application) -> CountingEventStore:
    school.repository.events = counting = CountingEventStore(school.repository.events)
    return counting


def test_a_cache_hit_is_fast_forwarded_by_default(store_env: dict[str, str]) -> None:
    with _cached_school(store_env) as school:
        dog_id = school.register("Fido")
        assert school.repository.get(dog_id).tricks == []
        _behind_the_cache(school, dog_id, "sit")
        assert school.repository.get(dog_id).tricks == ["sit"]
        counting = _count_queries(school)
        school.repository.get(dog_id)
        assert counting.queries == 1  # the hit asked the store for newer events


def test_without_fast_forward_a_hit_is_returned_as_cached(store_env: dict[str, str]) -> None:
    with _cached_school(store_env, AGGREGATE_CACHE_FASTFORWARD="n") as school:
        counting = _count_queries(school)
        dog_id = school.register("Fido")  # cached when saved
        school.add_trick("Fido", "sit")
        assert school.repository.get(dog_id).tricks == ["sit"]
        assert counting.queries == 0
        _behind_the_cache(school, dog_id, "stay")
        stale = school.repository.get(dog_id)
        assert stale.tricks == ["sit"] and counting.queries == 0
        stale.add_trick("beg")
        with pytest.raises(ConcurrencyError):
            school.save(stale)
        # The failed save dropped it from the cache: the retry reads the store, and works.
        school.add_trick("Fido", "beg")
        assert school.repository.get(dog_id).tricks == ["sit", "stay", "beg"]


def test_a_projector_fast_forwards_a_cached_immutable_aggregate(
    store_env: dict[str, str],
) -> None:
    env = {**store_env, "AGGREGATE_CACHE_MAXSIZE": "10", "IS_SNAPSHOTTING_ENABLED": "n"}
    with FunctionalSchool(env=env) as school:
        dog_id = school.register("Fido")
        assert school.tricks(dog_id) == ()
        seen_by_projector.clear()
        school.events.put(
            [TrickAdded(originator_id=dog_id, originator_version=2, timestamp=utcnow(), trick="a")]
        )
        assert school.tricks(dog_id) == ("a",)
        assert seen_by_projector == [[TrickAdded]]  # the cached dog, and the one new event


# --- The cache: copies ------------------------------------------------------------------


def test_copies_by_default_and_the_cached_object_on_request(store_env: dict[str, str]) -> None:
    with _cached_school(store_env) as school:
        dog_id = school.register("Fido")
        repository = school.repository
        assert repository.get(dog_id) is not repository.get(dog_id)
        shared = repository.get(dog_id, deepcopy_from_cache=False)
        assert shared is repository.get(dog_id, deepcopy_from_cache=False)
        assert shared is not repository.get(dog_id)
        # A fast-forward makes a new object: one handed out is never changed.
        _behind_the_cache(school, dog_id, "sit")
        newer = repository.get(dog_id, deepcopy_from_cache=False)
        assert (newer.tricks, shared.tricks) == (["sit"], [])
        assert newer is repository.get(dog_id, deepcopy_from_cache=False)


def test_without_copies_the_cache_shares_its_objects(store_env: dict[str, str]) -> None:
    with _cached_school(store_env, DEEPCOPY_FROM_AGGREGATE_CACHE="n") as school:
        dog_id = school.register("Fido")
        dog = school.repository.get(dog_id)
        assert dog is school.repository.get(dog_id)
        # The setting wins over the argument, as in the reference.
        assert dog is school.repository.get(dog_id, deepcopy_from_cache=True)
        # What the caller changes, the cache has; a failed save forgets it.
        dog.add_trick("unsaved")
        assert school.repository.get(dog_id).tricks == ["unsaved"]
        _behind_the_cache(school, dog_id, "sit")
        with pytest.raises(ConcurrencyError):
            school.save(dog)
        assert school.repository.get(dog_id).tricks == ["sit"]
        # A saved aggregate is cached as it is, not copied.
        again = school.repository.get(dog_id)
        again.add_trick("stay")
        school.save(again)
        assert school.repository.get(dog_id) is again


# --- The cache: fast-forward skipping ----------------------------------------------------


class HeldFastForward:
    """A projector that holds a fast-forward in the middle, with its aggregate's lock."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, dog: Any, events: Sequence[Any]) -> Any:
        self.entered.set()
        assert self.release.wait(10)
        return project_aggregate(dog, events)


def _get_in_thread(get: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(get()), daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize("by", ["setting", "argument"])
def test_skipping_takes_the_cached_aggregate_while_another_thread_fast_forwards(
    store_env: dict[str, str], by: str
) -> None:
    settings = {"AGGREGATE_CACHE_FASTFORWARD_SKIPPING": "y"} if by == "setting" else {}
    with _cached_school(store_env, **settings) as school:
        repository = school.repository
        dog_id = school.register("Fido")
        repository.get(dog_id)  # cached at version 1
        _behind_the_cache(school, dog_id, "sit")
        counting = _count_queries(school)
        held = HeldFastForward()
        holder, held_result = _get_in_thread(lambda: repository.get(dog_id, projector_func=held))
        assert held.entered.wait(10)

        skipper, skipped = _get_in_thread(
            lambda: repository.get(dog_id, fastforward_skipping=by == "argument")
        )
        skipper.join(10)
        assert not skipper.is_alive() and skipped[0].version == 1  # did not wait

        waiter, waited = _get_in_thread(lambda: repository.get(dog_id))
        time.sleep(0.2)
        if by == "argument":
            assert waiter.is_alive() and not waited  # without skipping, it waits its turn
        else:
            assert not waiter.is_alive() and waited[0].version == 1  # the setting skips all

        held.release.set()
        for thread in (holder, waiter):
            thread.join(10)
        assert held_result[0].version == 2
        assert waited[0].version == (2 if by == "argument" else 1)
        # The waiter started from what the holder cached: it found nothing newer.
        assert counting.after == ([1, 2] if by == "argument" else [1])
        assert repository.get(dog_id).tricks == ["sit"]


def _slow_fold(dog: Any, events: Sequence[Any]) -> Any:
    time.sleep(0.002)  # a fold that takes a while holds the fast-forward lock
    return project_aggregate(dog, events)


def _run_together(targets: list[Any]) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


@pytest.mark.parametrize("skipping", [True, False])
def test_many_threads_reading_a_hot_aggregate_while_it_changes(
    store_env: dict[str, str], skipping: bool
) -> None:
    """Readers hammer one aggregate while a writer changes it. With skipping, readers
    that find a fast-forward under way do not query; either way every aggregate handed
    out is a whole recorded version, never older than one the same thread saw before,
    and once the writes stop, the latest is seen."""
    readers, least_reads, writes = 8, 100, 100
    settings = {"AGGREGATE_CACHE_FASTFORWARD_SKIPPING": "y" if skipping else "n"}
    with _cached_school(store_env, **settings) as school:
        dog_id = school.register("Fido")
        school.repository.get(dog_id)
        counting = _count_queries(school)
        errors: list[BaseException] = []
        start = threading.Barrier(readers + 1)
        written = threading.Event()
        reads: list[int] = []
        seen: set[int] = set()

        def read() -> None:
            try:
                start.wait()
                last = count = 0
                while count < least_reads or not written.is_set():
                    dog = school.repository.get(dog_id, projector_func=_slow_fold)
                    assert dog.tricks == [str(i) for i in range(dog.version - 1)]
                    assert dog.version >= last
                    last = dog.version
                    seen.add(last)
                    count += 1
                reads.append(count)
            except BaseException as error:
                errors.append(error)

        def write() -> None:
            try:
                start.wait()
                for i in range(writes):
                    _behind_the_cache(school, dog_id, str(i))
                    time.sleep(0.001)
            except BaseException as error:
                errors.append(error)
            finally:
                written.set()

        _run_together([read] * readers + [write])
        assert not errors, errors
        assert len(seen) > 10  # the reads did overlap the writes
        if skipping:
            assert counting.queries < sum(reads)  # some reads skipped the query
        else:
            assert counting.queries == sum(reads)  # every hit asked the store
        final = school.repository.get(dog_id)
        assert final.version == writes + 1
        assert final.tricks == [str(i) for i in range(writes)]


def test_no_lock_outlives_its_fast_forward() -> None:
    school = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "10"})
    ids = [school.register(name) for name in "abc"]
    for dog_id in ids:
        school.repository.get(dog_id)
    assert school.repository._fastforwarding._locks == {}


def test_reference_style_repository_arguments_are_keywords() -> None:
    school = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "10"})
    dog_id = school.register("Fido")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dog = school.repository.get(
            aggregate_id=dog_id,
            version=None,
            projector_func=project_aggregate,
            fastforward_skipping=True,
            deepcopy_from_cache=False,
        )
    assert dog.name == "Fido"
    assert ProjectorFunction[Any, Any] is not None  # subscriptable, for annotations
