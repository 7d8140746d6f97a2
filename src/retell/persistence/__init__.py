"""The persistence layer: records, recorder interfaces, the mapper, and the store factory."""

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

__all__ = [
    "BUILT_IN_STORES",
    "AggregateRecorder",
    "ApplicationRecorder",
    "InfrastructureFactory",
    "JSONTranscoder",
    "Mapper",
    "Notification",
    "ProcessRecorder",
    "StoredEvent",
    "Subscription",
    "Tracking",
    "TrackingRecorder",
    "Transcoder",
    "Transcoding",
]
