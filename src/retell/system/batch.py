"""A follower's batch: a run of upstream events recorded in one transaction.

A follower catching up with a leader would otherwise commit, and wait for the disk,
once per upstream event. Recording a run of them at once, with the run's last
position, keeps processing exactly-once (what the policies produced and the position
commit together, or neither does) for one commit per run.

Until the run is recorded, the aggregates its policies changed are kept here, and the
follower's repository hands them out to the processing thread, so that a policy sees
what it did for the earlier events of the run. The tracking record carries the run's
first position, and stores refuse it if another process has recorded any position of
the run meanwhile: then nothing of the run is recorded, and `Overtaken` says where to
go on from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec

from retell.application.processing_event import ProcessingEvent
from retell.domain.aggregate import Aggregate
from retell.domain.events import AggregateEvent
from retell.errors import IntegrityError
from retell.persistence.records import Tracking

if TYPE_CHECKING:
    from retell.system.processing import ProcessApplication


class Overtaken(Exception):
    """Another process recorded positions of this run first; go on after `position`."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


class Batch:
    """Upstream events processed, and what their policies produced, not yet recorded."""

    def __init__(
        self,
        follower: ProcessApplication,
        leader_name: str,
        on_recorded: Callable[[int], None] | None = None,
    ) -> None:
        self.follower = follower
        self.leader_name = leader_name
        self.on_recorded = on_recorded
        self.aggregates: dict[UUID | str, Aggregate] = {}
        self.size = 0
        self.recorded = 0
        self._events: list[AggregateEvent] = []
        self._counts: dict[UUID | str, int] = {}
        self._first = 0
        self._last = 0

    def holds_another(self, processing: ProcessingEvent) -> bool:
        """Whether a policy collected an aggregate of the batch through another object
        (made anew with an id in use, say): its save conflicts with the batch's, and that
        conflict is that event's alone, so the batch is recorded before it and it alone."""
        known = self.aggregates
        return any(known.get(a.id, a) is not a for a in processing.aggregates)

    def add(self, processing: ProcessingEvent) -> bool:
        """Take what a policy produced for one upstream event.

        True if the batch must be recorded now: a policy changed an aggregate of the
        batch without collecting it, and those changes must be dropped, as they are
        when a follower records each event on its own, not recorded with a later event.
        """
        upstream = processing.upstream
        for aggregate in processing.aggregates:
            pending = aggregate._pending_events
            if upstream is not None:
                correlation = upstream.correlation_id or upstream.identity
                for new_event in pending:
                    msgspec.structs.force_setattr(new_event, "correlation_id", correlation)
                    msgspec.structs.force_setattr(new_event, "causation_id", upstream.identity)
            self._events += pending
            aggregate._pending_events = []
            self.aggregates[aggregate.id] = aggregate
            self._counts[aggregate.id] = self._counts.get(aggregate.id, 0) + len(pending)
        position = processing.tracking.notification_id
        if not self.size:
            self._first = position
        self._last = position
        self.size += 1
        return any(aggregate._pending_events for aggregate in self.aggregates.values())

    def flush(self) -> None:
        """Record the batch in one transaction, and start an empty one.

        Raises `Overtaken` if another process recorded any of its positions first
        (nothing of the batch is recorded then).
        """
        if not self.size:
            return
        tracking = Tracking(self.leader_name, self._last, first_id=self._first)
        events, size = self._events, self.size
        saved = [(aggregate, self._counts[key]) for key, aggregate in self.aggregates.items()]
        self.aggregates, self._events, self._counts, self.size = {}, [], {}, 0
        self._record(events, saved, tracking)
        self.recorded += size
        if self.on_recorded is not None:
            self.on_recorded(size)

    def _record(
        self,
        events: Sequence[AggregateEvent],
        saved: Sequence[tuple[Aggregate, int]],
        tracking: Tracking,
    ) -> None:
        follower = self.follower
        try:
            recordings = follower.events.put(events, tracking=tracking)
        except IntegrityError:
            # Refused: if another process recorded these positions, that explains it
            # (its events may also have taken the versions this batch wanted).
            last = follower.recorder.max_tracking_id(tracking.application_name)
            if last is not None and last >= tracking.first:
                raise Overtaken(last) from None
            raise
        follower._after_recording(recordings, saved)
