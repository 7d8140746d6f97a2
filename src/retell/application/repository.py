"""Getting aggregates back: replay their events, from a snapshot if there is one.

The optional cache keeps recently used aggregates. It can never hand out stale
state: every hit is fast-forwarded with the events stored since it was cached, and
callers get a copy, so a command that fails halfway cannot corrupt the cache.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent
from retell.errors import AggregateNotFound, RetellError
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import AggregateRecorder


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
        originator_id: UUID,
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
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: UUID) -> Aggregate | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: UUID, value: Aggregate) -> None:
        with self._lock:
            current = self._items.get(key)
            if current is not None and current.version > value.version:
                return  # a concurrent save already cached a newer version
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self.maxsize:
                self._items.popitem(last=False)


class Unrecorded(Protocol):
    """Changes made but not yet recorded, such as a follower's batch (`retell.system`)."""

    @property
    def aggregates(self) -> dict[UUID, Aggregate]:
        """The changed aggregates, as they are now, by id."""

    def flush(self) -> None:
        """Record the changes, and forget the aggregates."""


class _ThreadWork(threading.local):
    unrecorded: Unrecorded | None = None


class Repository:
    """Gets aggregates by id, optionally at an earlier version.

    A thread that has changes not yet recorded (`unrecorded`) gets its own changed
    aggregates back, as they are, so that it sees what it did; other threads see only
    what is recorded.
    """

    def __init__(
        self, events: EventStore, snapshots: EventStore | None = None, cache_maxsize: int = 0
    ) -> None:
        self.events = events
        self.snapshots = snapshots
        self.cache = LRUCache(cache_maxsize) if cache_maxsize > 0 else None
        self._thread = _ThreadWork()

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

    def get(self, aggregate_id: UUID, version: int | None = None) -> Any:
        """The aggregate as of its latest version, or as of `version`.

        Typed `Any` so that ``dog: Dog = repository.get(dog_id)`` type-checks: an id
        alone cannot tell a type checker which aggregate class comes back.
        """
        if not isinstance(aggregate_id, UUID):
            raise RetellError(
                f"aggregate ids are UUIDs, not {type(aggregate_id).__name__}: "
                f"get(UUID({str(aggregate_id)!r})), not get({aggregate_id!r})"
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
        if version is None and self.cache is not None:
            cached = self.cache.get(aggregate_id)
            if cached is not None:
                aggregate, applied = self._replay(aggregate_id, copy.deepcopy(cached), None)
                assert aggregate is not None
                if applied:
                    self.cache.put(aggregate_id, copy.deepcopy(aggregate))
                return aggregate
        aggregate = self._reconstruct(aggregate_id, version)
        if version is None and self.cache is not None:
            self.cache.put(aggregate_id, copy.deepcopy(aggregate))
        return aggregate

    def _reconstruct(self, aggregate_id: UUID, version: int | None) -> Aggregate:
        start: Aggregate | None = None
        if self.snapshots is not None:
            snapshots = self.snapshots.get(aggregate_id, lte=version, desc=True, limit=1)
            if snapshots:
                start = snapshots[0].mutate(None)  # type: ignore[attr-defined]
        aggregate, _ = self._replay(aggregate_id, start, version)
        if aggregate is None:
            raise AggregateNotFound(f"there is no aggregate with id {aggregate_id}")
        if version is not None and aggregate.version < version:
            raise AggregateNotFound(
                f"aggregate {aggregate_id} has no version {version}: its latest is "
                f"{aggregate.version}"
            )
        return aggregate

    def _replay(
        self, aggregate_id: UUID, aggregate: Aggregate | None, version: int | None
    ) -> tuple[Aggregate | None, int]:
        """Apply the stored events after the aggregate's version; also says how many."""
        gt = None if aggregate is None else aggregate.version
        events = self.events.get(aggregate_id, gt=gt, lte=version)
        for event in events:
            aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
        return aggregate, len(events)

    def cache_saved(self, aggregate: Aggregate) -> None:
        """Cache an aggregate that was just saved (a copy: the caller keeps changing theirs)."""
        if self.cache is not None:
            self.cache.put(aggregate.id, copy.deepcopy(aggregate))

    def __contains__(self, aggregate_id: object) -> bool:
        if not isinstance(aggregate_id, UUID):
            return False
        work = self._thread.unrecorded
        if work is not None and aggregate_id in work.aggregates:
            return True
        if self.cache is not None and self.cache.get(aggregate_id) is not None:
            return True
        return bool(self.events.recorder.select_events(aggregate_id, limit=1))
