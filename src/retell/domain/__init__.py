"""The domain layer: aggregates and their events. It imports nothing from outer layers."""

from retell.domain.aggregate import Aggregate, aggregate
from retell.domain.decorators import event, triggers
from retell.domain.events import AggregateCreated, AggregateEvent, DomainEvent, Snapshot

__all__ = [
    "Aggregate",
    "AggregateCreated",
    "AggregateEvent",
    "DomainEvent",
    "Snapshot",
    "aggregate",
    "event",
    "triggers",
]
