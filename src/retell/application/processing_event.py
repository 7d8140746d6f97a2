"""What a process application's policy produces for one upstream event.

It belongs to the application layer, where the `eventsourcing` library has it
(``eventsourcing.application.ProcessingEvent``); `retell.system` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent
from retell.errors import RetellError
from retell.persistence.records import Tracking


@dataclass
class ProcessingEvent:
    """What a policy produces while it processes one upstream event.

    Call `collect_events` with the aggregates the policy changed; they are recorded
    with the tracking position when the policy returns (with those of the other
    events of the follower's batch). `upstream` is the event processed; it may be
    left out where a test calls a policy itself, as ``ProcessingEvent(tracking=...)``.
    """

    tracking: Tracking
    upstream: DomainEvent | None = None
    aggregates: list[Aggregate] = field(default_factory=list)

    def collect_events(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            if not isinstance(aggregate, Aggregate):
                raise RetellError(f"collect_events() takes aggregates, not {aggregate!r}")
            if aggregate not in self.aggregates:
                self.aggregates.append(aggregate)
