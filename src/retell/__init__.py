"""retell: event sourcing for Python and Django.

The names most code needs are here; the layers behind them are `retell.domain`,
`retell.application`, `retell.persistence` and the stores (`retell.memory`,
`retell.sqlite`, `retell.postgres`, `retell.django`).
"""

from retell.application import Application, EventSourcedLog, NotificationLogReader, Recording
from retell.domain import Aggregate, aggregate, event
from retell.errors import (
    AggregateNotFound,
    AggregateNotFoundError,
    ConcurrencyError,
    RetellError,
)

__all__ = [
    "Aggregate",
    "AggregateNotFound",
    "AggregateNotFoundError",
    "Application",
    "ConcurrencyError",
    "EventSourcedLog",
    "NotificationLogReader",
    "Recording",
    "RetellError",
    "aggregate",
    "event",
]
__version__ = "0.1.0"
