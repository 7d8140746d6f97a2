"""Getting aggregates back: replay their events, from a snapshot if there is one.

The optional cache keeps recently used aggregates. By default it can never hand out
stale state: every hit is fast-forwarded with the events stored since it was cached,
and callers get a copy, so a command that fails halfway cannot corrupt the cache.
Three settings trade that safety for speed where an application can afford it (see
`Repository`). The repository never changes an aggregate it has handed out or cached:
a fast-forward applies the new events to a copy, which then replaces the cached one.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, NamedTuple, Protocol, TypeAlias, TypeVar
from uuid import UUID

from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent, Snapshot
from retell.domain.types import TAggregateID
from retell.errors import AggregateNotFound, RetellError
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import AggregateRecorder
from retell.topics import resolve_topic

TAggregate = TypeVar("TAggregate")
_ID_TYPES = (UUID, str)
TEvent = TypeVar("TEvent")

ProjectorFunction: TypeAlias = Callable[[TAggregate | None, Iterable[TEvent]], TAggregate | None]
"""Folds events into an aggregate: ``f(aggregate_or_None, events) -> aggregate_or_None``.

How immutable or functional aggregates (frozen dataclasses, pydantic or msgspec
models) are rebuilt, since they cannot be changed in place by their events. It is given
None and the events from the first (or a snapshot, then the events after it), or a
cached aggregate and the events stored since.
"""


def project_aggregate(aggregate: Any, events: Iterable[Any]) -> Any:
    """The default projector: each event's ``mutate()``, in turn."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class Recording(NamedTuple):
    """An event as it was recorded, with its position in the notification log."""

    domain_event: DomainEvent
    notification_id: int | None


class EventStore:
    """Domain events in and out of one recorder, through the mapper."""

    def __init__(self, mapper: Mapper, recorder: AggregateRecorder) -> None:
        self.mapper = mapper
        self.recorder = recorder

    def put(self, events: Sequence[DomainEvent], **kwargs: Any) -> list[Recording]:
        to_stored = self.mapper.to_stored_event
        stored = [to_stored(e) for e in events]
        if kwargs:
            ids = self.recorder.insert_events(stored, **kwargs)
        else:
            ids = self.recorder.insert_events(stored)
        if ids is None:
            return [Recording(e, None) for e in events]
        return list(map(Recording, events, ids))

    def get(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[DomainEvent]:
        stored = self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        return self.mapper.to_domain_events(stored)


class LRUCache:
    """A thread-safe least-recently-used map of aggregate id to aggregate."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID | str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: UUID | str) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: UUID | str, value: Any) -> None:
        with self._lock:
            current = self._items.get(key)
            if current is not None and current.version > value.version:
                return  # a concurrent save or fast-forward already cached a newer version
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def evict(self, key: UUID | str) -> None:
        with self._lock:
            self._items.pop(key, None)


class _KeyedLocks:
    """A lock per key, kept only while some thread holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[UUID | str, list[Any]] = {}  # key -> [lock, threads using it]

    @contextmanager
    def hold(self, key: UUID | str, *, blocking: bool) -> Iterator[bool]:
        """Hold the key's lock for the block; yields False if not `blocking` and it is held."""
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
        lock: threading.Lock = entry[0]
        acquired = lock.acquire(blocking)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[key]


class Unrecorded(Protocol):
    """Changes made but not yet recorded, such as a follower's batch (`retell.system`)."""

    @property
    def aggregates(self) -> dict[UUID | str, Aggregate]:
        """The changed aggregates, as they are now, by id."""

    def flush(self) -> None:
        """Record the changes, and forget the aggregates."""


class _ThreadWork(threading.local):
    unrecorded: Unrecorded | None = None


def _either(name: str, value: EventStore | None, alias: EventStore | None) -> EventStore | None:
    """The store given as `name` or under the `eventsourcing` library's name, not both."""
    if value is not None and alias is not None:
        raise TypeError(f"Repository() got {name} twice, by position and by the library's name")
    return value if value is not None else alias


class Repository(Generic[TAggregateID]):
    """Gets aggregates by id, optionally at an earlier version.

    A thread that has changes not yet recorded (`unrecorded`) gets its own changed
    aggregates back, as they are, so that it sees what it did; other threads see only
    what is recorded.

    With a cache (`cache_maxsize` > 0; None or 0: none), as the reference library has it:

    - `fastforward` (``AGGREGATE_CACHE_FASTFORWARD``, default on): a hit is brought up to
      date with the events stored since it was cached. Off saves that query, and is
      safe only when this object is the aggregates' only writer: otherwise saves of
      stale aggregates fail with `ConcurrencyError` (and the failed aggregates are then
      dropped from the cache, so that a retry reads the store).
    - `fastforward_skipping` (``AGGREGATE_CACHE_FASTFORWARD_SKIPPING``, default off):
      one thread at a time fast-forwards an aggregate; with skipping, the others take
      the cached aggregate as it is instead of waiting and querying in turn. That
      spares the database a burst of identical queries when a hot aggregate is read
      by many threads at once, at the cost of maybe missing its very latest events.
    - `deepcopy_from_cache` (``DEEPCOPY_FROM_AGGREGATE_CACHE``, default on): hand out
      copies. Off hands out the cached objects themselves, for immutable aggregates
      or read-only queries: a caller that changes one changes the cache.
    """

    def __init__(
        self,
        events: EventStore | None = None,
        snapshots: EventStore | None = None,
        cache_maxsize: int | None = 0,
        *,
        fastforward: bool = True,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
        event_store: EventStore | None = None,
        snapshot_store: EventStore | None = None,
    ) -> None:
        # `event_store` and `snapshot_store`: the `eventsourcing` library's names.
        events = _either("events", events, event_store)
        snapshots = _either("snapshots", snapshots, snapshot_store)
        if events is None:
            raise TypeError("Repository() needs the event store: Repository(events, ...)")
        self.events = events
        self.snapshots = snapshots
        self.cache = LRUCache(cache_maxsize) if cache_maxsize and cache_maxsize > 0 else None
        self.fastforward = fastforward
        self.fastforward_skipping = fastforward_skipping
        self.deepcopy_from_cache = deepcopy_from_cache
        self._fastforwarding = _KeyedLocks()
        self._thread = _ThreadWork()

    @property
    def event_store(self) -> EventStore:
        """`events`, under the `eventsourcing` library's name."""
        return self.events

    @property
    def snapshot_store(self) -> EventStore | None:
        """`snapshots`, under the `eventsourcing` library's name."""
        return self.snapshots

    @property
    def unrecorded_work(self) -> Unrecorded | None:
        """This thread's changes not yet recorded, if any."""
        return self._thread.unrecorded

    @contextmanager
    def unrecorded(self, work: Unrecorded) -> Iterator[None]:
        """Let this thread's `get` see `work`'s aggregates until the block ends.

        Work already under way in this thread (a policy's command that leads back
        here) is recorded first, so that the new work starts from what is recorded.
        """
        outer = self._thread.unrecorded
        if outer is not None:
            outer.flush()
        self._thread.unrecorded = work
        try:
            yield
        finally:
            self._thread.unrecorded = outer

    def get(
        self,
        aggregate_id: UUID | str,
        version: int | None = None,
        *,
        projector_func: ProjectorFunction[Any, Any] | None = None,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        """The aggregate as of its latest version, or as of `version`.

        A `version` beyond the latest gives the latest. `projector_func` rebuilds
        aggregates that events cannot change in place (see `ProjectorFunction`); the
        default applies each event's ``mutate()``. With a cache, `fastforward_skipping`
        turns skipping on for this call, and ``deepcopy_from_cache=False`` hands out
        the cached object itself, for a read-only query; neither can undo the
        application's settings.

        Typed `Any` so that ``dog: Dog = repository.get(dog_id)`` type-checks: an id
        alone cannot tell a type checker which aggregate class comes back.
        """
        if type(aggregate_id) is not UUID and not isinstance(aggregate_id, _ID_TYPES):
            raise RetellError(
                f"aggregate ids are UUIDs or strs, not {type(aggregate_id).__name__}: "
                f"{aggregate_id!r}"
            )
        if version is not None and version < 1:
            raise AggregateNotFound(
                f"aggregate versions start at 1: there is no version {version} of {aggregate_id}"
            )
        work = self._thread.unrecorded
        if work is not None and aggregate_id in work.aggregates:
            if version is None:
                return work.aggregates[aggregate_id]
            work.flush()  # an earlier version: replayed from what is recorded
        cache = self.cache
        if version is not None or cache is None:
            return self._reconstruct(aggregate_id, version, projector_func)
        deepcopy = self.deepcopy_from_cache and deepcopy_from_cache
        cached = cache.get(aggregate_id)
        if cached is None:
            aggregate = self._reconstruct(aggregate_id, None, projector_func)
            cache.put(aggregate_id, copy.deepcopy(aggregate) if deepcopy else aggregate)
            return aggregate
        if self.fastforward:
            skipping = self.fastforward_skipping or fastforward_skipping
            cached = self._fastforward(aggregate_id, cached, projector_func, skipping)
        return copy.deepcopy(cached) if deepcopy else cached

    def _fastforward(
        self,
        aggregate_id: UUID | str,
        cached: Any,
        projector_func: ProjectorFunction[Any, Any] | None,
        skipping: bool,
    ) -> Any:
        """Bring a cached aggregate up to date, one thread per aggregate at a time."""
        assert self.cache is not None
        with self._fastforwarding.hold(aggregate_id, blocking=not skipping) as held:
            if not held:
                return cached  # another thread is fast-forwarding it: take it as it is
            # While this thread waited, the one before may have cached a newer version.
            latest = self.cache.get(aggregate_id)
            if latest is not None:
                cached = latest
            new_events = self.events.get(aggregate_id, gt=cached.version)
            if not new_events:
                return cached
            start = copy.deepcopy(cached)
            advanced = self._project(aggregate_id, start, new_events, projector_func)
            self.cache.put(aggregate_id, advanced)
            return advanced

    def _reconstruct(
        self,
        aggregate_id: UUID | str,
        version: int | None,
        projector_func: ProjectorFunction[Any, Any] | None = None,
    ) -> Any:
        """The aggregate from its latest snapshot (at or below `version`) and the events after."""
        snapshot: DomainEvent | None = None
        if self.snapshots is not None:
            snapshots = self.snapshots.get(aggregate_id, lte=version, desc=True, limit=1)
            if snapshots:
                snapshot = snapshots[0]
        gt = None if snapshot is None else snapshot.originator_version
        events: Sequence[Any] = self.events.get(aggregate_id, gt=gt, lte=version)
        if snapshot is None and not events:
            raise AggregateNotFound(f"there is no aggregate with id {aggregate_id}")
        if projector_func is None and snapshot is not None:
            if type(snapshot) is Snapshot:  # the class that snapshots other styles of aggregate
                cls = resolve_topic(snapshot.topic)
                if not (isinstance(cls, type) and issubclass(cls, Aggregate)):
                    raise RetellError(
                        f"{_name(cls)} is not an Aggregate, so aggregate {aggregate_id} cannot "
                        "be rebuilt from its snapshot by default: pass the function that folds "
                        "its snapshots and events, as repository.get(id, projector_func=...)"
                    )
            start = snapshot.mutate(None)  # type: ignore[attr-defined]
            return self._project(aggregate_id, start, events, None)
        if snapshot is not None:
            events = [snapshot, *events]
        return self._project(aggregate_id, None, events, projector_func)

    @staticmethod
    def _project(
        aggregate_id: UUID | str,
        aggregate: Any,
        events: Sequence[Any],
        projector_func: ProjectorFunction[Any, Any] | None,
    ) -> Any:
        if projector_func is not None:
            aggregate = projector_func(aggregate, events)
            if aggregate is None:
                raise AggregateNotFound(
                    f"the projector function gave no aggregate for id {aggregate_id}"
                )
            return aggregate
        try:
            for event in events:  # project_aggregate(), inlined: this runs for every replay
                aggregate = event.mutate(aggregate)
        except AttributeError:
            without = next((e for e in events if not hasattr(e, "mutate")), None)
            if without is None:
                raise
            raise RetellError(
                f"{_name(type(without))} events have no mutate() method, so aggregate "
                f"{aggregate_id} cannot be rebuilt by default: pass the function that folds "
                "its events, as repository.get(id, projector_func=...)"
            ) from None
        return aggregate

    def cache_saved(self, aggregate: Any) -> None:
        """Cache an aggregate that was just saved (a copy: the caller keeps changing theirs,
        unless the application shares cached objects, ``DEEPCOPY_FROM_AGGREGATE_CACHE=n``)."""
        if self.cache is not None:
            value = copy.deepcopy(aggregate) if self.deepcopy_from_cache else aggregate
            self.cache.put(aggregate.id, value)

    def forget_failed(self, aggregate_ids: Iterable[UUID | str]) -> None:
        """After a failed save, drop cached aggregates that may have caused it.

        Without fast-forwarding, the cached state may be stale (another writer was
        first); without copies, it may be the caller's own unsaved changes. Either way
        a retry must read the store.
        """
        cache = self.cache
        if cache is not None and not (self.fastforward and self.deepcopy_from_cache):
            for aggregate_id in aggregate_ids:
                cache.evict(aggregate_id)

    def __contains__(self, aggregate_id: object) -> bool:
        if not isinstance(aggregate_id, _ID_TYPES):
            return False
        work = self._thread.unrecorded
        if work is not None and aggregate_id in work.aggregates:
            return True
        if self.cache is not None and self.cache.get(aggregate_id) is not None:
            return True
        return bool(self.events.recorder.select_events(aggregate_id, limit=1))


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", repr(obj))
