"""The application layer: applications, repositories and the notification log."""

from retell.application.application import Application
from retell.application.notification_log import NotificationLog, Section
from retell.application.repository import EventStore, Recording, Repository

__all__ = ["Application", "EventStore", "NotificationLog", "Recording", "Repository", "Section"]
