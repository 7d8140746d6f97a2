"""The application layer: applications, repositories, the notification log, and logs."""

from retell.application.application import Application
from retell.application.eventsourced_log import EventSourcedLog
from retell.application.notification_log import (
    LocalNotificationLog,
    NotificationLog,
    NotificationLogReader,
    Section,
)
from retell.application.repository import (
    EventStore,
    ProjectorFunction,
    Recording,
    Repository,
    project_aggregate,
)

__all__ = [
    "Application",
    "EventSourcedLog",
    "EventStore",
    "LocalNotificationLog",
    "NotificationLog",
    "NotificationLogReader",
    "ProjectorFunction",
    "Recording",
    "Repository",
    "Section",
    "project_aggregate",
]
