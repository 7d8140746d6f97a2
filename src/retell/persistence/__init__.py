"""The persistence layer: records, recorder interfaces, the mapper, and the store factory.

It also gives the names the `eventsourcing` library exports from its persistence
module: the errors, `Cipher` and `Compressor`, its built-in transcodings (which
retell does not need, see `retell.persistence.transcodings`), and `Recording` and
`EventStore`, which are retell's application layer's (imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retell.cipher import Cipher
from retell.compressor import Compressor
from retell.errors import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    RecordConflictError,
    TranscodingNotRegisteredError,
    WaitInterruptedError,
)
from retell.persistence.factory import BUILT_IN_STORES, InfrastructureFactory
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    Subscription,
    TrackingRecorder,
)
from retell.persistence.records import Notification, StoredEvent, Tracking
from retell.persistence.transcoder import JSONTranscoder, Transcoder, Transcoding
from retell.persistence.transcodings import DatetimeAsISO, DecimalAsStr, UUIDAsHex

if TYPE_CHECKING:
    from retell.application.repository import EventStore, Recording

__all__ = [
    "BUILT_IN_STORES",
    "AggregateRecorder",
    "ApplicationRecorder",
    "Cipher",
    "Compressor",
    "DataError",
    "DatabaseError",
    "DatetimeAsISO",
    "DecimalAsStr",
    "EventStore",
    "InfrastructureFactory",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "JSONTranscoder",
    "Mapper",
    "NotSupportedError",
    "Notification",
    "OperationalError",
    "PersistenceError",
    "ProcessRecorder",
    "ProgrammingError",
    "RecordConflictError",
    "Recording",
    "StoredEvent",
    "Subscription",
    "Tracking",
    "TrackingRecorder",
    "Transcoder",
    "Transcoding",
    "TranscodingNotRegisteredError",
    "UUIDAsHex",
    "WaitInterruptedError",
]


def __getattr__(name: str) -> Any:
    # The application layer imports this one: import it back only when asked.
    if name in ("EventStore", "Recording"):
        from retell.application import repository

        return getattr(repository, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
