"""The application layer: applications, repositories, the notification log, and logs."""

from retell.application.application import Application
from retell.application.eventsourced_log import EventSourcedLog
from retell.application.notification_log import (
    LocalNotificationLog,
    NotificationLog,
    NotificationLogReader,
    Section,
)
from retell.application.processing_event import ProcessingEvent
from retell.application.repository import (
    EventStore,
    ProjectorFunction,
    Recording,
    Repository,
    project_aggregate,
)
from retell.config import EnvType
from retell.domain.types import MutatorFunction
from retell.errors import AggregateNotFoundError

__all__ = [
    "AggregateNotFoundError",
    "Application",
    "EnvType",
    "EventSourcedLog",
    "EventStore",
    "LocalNotificationLog",
    "MutatorFunction",
    "NotificationLog",
    "NotificationLogReader",
    "ProcessingEvent",
    "ProjectorFunction",
    "Recording",
    "Repository",
    "Section",
    "project_aggregate",
]
