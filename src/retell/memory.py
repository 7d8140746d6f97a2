"""The in-memory store (``PERSISTENCE_MODULE=retell.memory``, the default).

For tests, examples and caches of state that can be rebuilt. Thread-safe: one lock
per recorder guards every write, and a whole save becomes visible to readers at
once (one ``list.extend``), with gap-free notification ids from 1.

Aggregate ids are kept as they are, UUIDs and strs alike, with no setting: a UUID
and its text are two aggregates, as the UUID and the str differ.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from uuid import UUID

from retell.errors import ConcurrencyError, tracking_not_higher
from retell.persistence.factory import InfrastructureFactory, Purpose, T
from retell.persistence.ids import wrong_id_type
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from retell.persistence.records import Notification, StoredEvent, Tracking


class _Stream:
    """One aggregate's events, sorted by version, with the versions kept for bisecting."""

    __slots__ = ("events", "versions")

    def __init__(self) -> None:
        self.versions: list[int] = []
        self.events: list[StoredEvent] = []


def _key(originator_id: UUID | str) -> int | str:
    """A stream's key: a UUID's int (UUID.__hash__ is slow), or the str itself."""
    if type(originator_id) is str:
        return originator_id
    try:
        return originator_id.int  # type: ignore[union-attr]
    except AttributeError:
        if isinstance(originator_id, str):
            return str.__str__(originator_id)
        raise wrong_id_type(originator_id, "uuid") from None


class MemoryAggregateRecorder(AggregateRecorder):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._streams: dict[int | str, _Stream] = {}  # by UUID.int, or by the str id

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        with self._lock:
            self._check_versions(stored_events)
            self._append(stored_events)
        return None

    def _check_versions(self, stored_events: Sequence[StoredEvent]) -> None:
        if len(stored_events) == 1:  # the common save: no duplicates within it to look for
            event = stored_events[0]
            stream = self._streams.get(_key(event.originator_id))
            if stream is None or stream.versions[-1] < event.originator_version:
                return
        seen: set[tuple[int | str, int]] = set()
        for event in stored_events:
            key = (_key(event.originator_id), event.originator_version)
            stream = self._streams.get(key[0])
            taken = key in seen
            if stream is not None and not taken:
                i = bisect_left(stream.versions, event.originator_version)
                taken = i < len(stream.versions) and stream.versions[i] == key[1]
            if taken:
                raise ConcurrencyError.version_taken(event.originator_id, event.originator_version)
            seen.add(key)

    def _append(self, records: Sequence[StoredEvent]) -> None:
        for record in records:
            key = _key(record.originator_id)
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = _Stream()
            if not stream.versions or stream.versions[-1] < record.originator_version:
                stream.versions.append(record.originator_version)
                stream.events.append(record)
            else:
                i = bisect_left(stream.versions, record.originator_version)
                stream.versions.insert(i, record.originator_version)
                stream.events.insert(i, record)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        key = _key(originator_id)
        with self._lock:
            stream = self._streams.get(key)
            if stream is None:
                return []
            lo = 0 if gt is None else bisect_right(stream.versions, gt)
            hi = len(stream.versions) if lte is None else bisect_right(stream.versions, lte)
            events = stream.events[lo:hi]
        if desc:
            events.reverse()
        if limit is not None:
            events = events[:limit]
        return events


class MemoryApplicationRecorder(MemoryAggregateRecorder, ApplicationRecorder):
    def __init__(self) -> None:
        super().__init__()
        self._notifications: list[Notification] = []

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        with self._lock:
            ids = self._insert_notifications(stored_events)
        if self._ever_subscribed:
            self.notify_subscribers()
        return ids

    def _insert_notifications(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Check and record the events as notifications; the caller holds the lock."""
        self._check_versions(stored_events)
        i = len(self._notifications)
        notifications = []
        for e in stored_events:
            i += 1
            notifications.append(
                Notification(e.originator_id, e.originator_version, e.topic, e.state, i)
            )
        self._append(notifications)
        self._notifications.extend(notifications)  # one step: readers see all or nothing
        return [n.id for n in notifications]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        first = 1 if start is None else start
        if start is not None and not inclusive_of_start:
            first = start + 1
        index = max(first, 1) - 1
        log = self._notifications
        end = len(log) if stop is None else min(len(log), stop)
        if not topics:
            return log[index : min(end, index + limit)] if limit > 0 else []
        wanted = frozenset(topics)
        selected: list[Notification] = []
        for notification in log[index:end]:
            if len(selected) >= limit:
                break
            if notification.topic in wanted:
                selected.append(notification)
        return selected

    def max_notification_id(self) -> int | None:
        return len(self._notifications) or None


class MemoryTrackingRecorder(TrackingRecorder):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._positions: dict[str, int] = {}

    def insert_tracking(self, tracking: Tracking) -> None:
        with self._lock:
            self._check_tracking(tracking)
            self._positions[tracking.application_name] = tracking.notification_id

    def _check_tracking(self, tracking: Tracking) -> None:
        last = self._positions.get(tracking.application_name)
        if last is not None and tracking.first <= last:
            raise tracking_not_higher(tracking.application_name, tracking.first, last)

    def max_tracking_id(self, application_name: str) -> int | None:
        return self._positions.get(application_name)

    def delete_tracking(self, application_name: str) -> None:
        with self._lock:
            self._positions.pop(application_name, None)


class MemoryProcessRecorder(MemoryApplicationRecorder, MemoryTrackingRecorder, ProcessRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, tracking: Tracking | None = None
    ) -> Sequence[int]:
        with self._lock:
            if tracking is not None:
                self._check_tracking(tracking)
            ids = self._insert_notifications(stored_events)
            if tracking is not None:
                self._positions[tracking.application_name] = tracking.notification_id
        self.notify_subscribers()
        return ids


class Factory(InfrastructureFactory):
    """Makes in-memory recorders: each application's events live in its own objects."""

    def aggregate_recorder(self, purpose: Purpose = "events") -> AggregateRecorder:
        return MemoryAggregateRecorder()

    def application_recorder(self) -> ApplicationRecorder:
        return MemoryApplicationRecorder()

    def tracking_recorder(self, recorder_class: type[T] | None = None) -> T | TrackingRecorder:
        if recorder_class is None:
            return MemoryTrackingRecorder()
        self.check_view_class(recorder_class, MemoryTrackingRecorder)
        return recorder_class()

    def process_recorder(self) -> ProcessRecorder:
        return MemoryProcessRecorder()


# The `eventsourcing` library's names for this store ("plain old Python objects").
POPOFactory = Factory
POPOAggregateRecorder = MemoryAggregateRecorder
POPOApplicationRecorder = MemoryApplicationRecorder
POPOTrackingRecorder = MemoryTrackingRecorder
POPOProcessRecorder = MemoryProcessRecorder
