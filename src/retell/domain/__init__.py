"""The domain layer: aggregates and their events. It imports nothing from outer layers."""

from retell.domain.aggregate import Aggregate, aggregate
from retell.domain.decorators import event, triggers
from retell.domain.events import AggregateCreated, AggregateEvent, DomainEvent, Snapshot, utcnow
from retell.domain.types import MutatorFunction
from retell.errors import EventSourcingError, OriginatorIDError, OriginatorVersionError

LogEvent = DomainEvent
"""The `eventsourcing` library's base class of an `EventSourcedLog`'s events: any
`DomainEvent` subclass serves."""

datetime_now_with_tzinfo = utcnow
"""The `eventsourcing` library's name for the current time, timezone-aware (UTC)."""

__all__ = [
    "Aggregate",
    "AggregateCreated",
    "AggregateEvent",
    "DomainEvent",
    "EventSourcingError",
    "LogEvent",
    "MutatorFunction",
    "OriginatorIDError",
    "OriginatorVersionError",
    "Snapshot",
    "aggregate",
    "datetime_now_with_tzinfo",
    "event",
    "triggers",
]
