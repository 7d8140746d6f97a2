"""Event-sourced logs: a sequence of events read as it is, never replayed into an aggregate.

A log of the ids of every aggregate of some kind, say, lets an application list them
(in creation order, in pages) without a projection, however long the log grows: a page
is one query by version, not a replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from retell.application.repository import EventStore
from retell.domain.events import DomainEvent, utcnow

E = TypeVar("E", bound=DomainEvent)


class EventSourcedLog(Generic[E]):
    """A log of `logged_cls` events in the sequence `originator_id`, one version each.

    `trigger_event` makes the next event; save it with the application's ``save``,
    alone or with the aggregates it speaks of, in one transaction. Two writers that
    trigger the same next version cannot both save: the second gets `ConcurrencyError`
    (an `IntegrityError`), as for an aggregate.
    """

    def __init__(self, events: EventStore, originator_id: UUID | str, logged_cls: type[E]) -> None:
        self.events = events
        self.originator_id = originator_id
        self.logged_cls = logged_cls

    def trigger_event(self, next_originator_version: int | None = None, **kwargs: Any) -> E:
        """A new event with the fields `kwargs`, at the version after the last one stored
        (or at `next_originator_version`). It is not stored until it is saved."""
        if next_originator_version is None:
            last = self.get_last()
            next_originator_version = 1 if last is None else last.originator_version + 1
        return self.logged_cls(
            originator_id=self.originator_id,
            originator_version=next_originator_version,
            timestamp=utcnow(),
            **kwargs,
        )

    def get_first(self) -> E | None:
        """The first event of the log, or None while it is empty."""
        return next(self.get(limit=1), None)

    def get_last(self) -> E | None:
        """The last event of the log, or None while it is empty."""
        return next(self.get(desc=True, limit=1), None)

    def get(
        self,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[E]:
        """The events with gt < version <= lte, in order of version (descending if
        `desc`), at most `limit` of them: page with ``gt=`` (or ``lte=`` descending)."""
        events = self.events.get(self.originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        return iter(cast("list[E]", events))
