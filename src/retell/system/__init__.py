"""Systems of applications: process applications following leaders, and their runners."""

from retell.application.notification_log import NotificationLogReader
from retell.system.definition import System
from retell.system.processing import ProcessApplication, ProcessingEvent
from retell.system.runners import (
    MultiThreadedRunner,
    NewMultiThreadedRunner,
    NewSingleThreadedRunner,
    Runner,
    SingleThreadedRunner,
)

__all__ = [
    "MultiThreadedRunner",
    "NewMultiThreadedRunner",
    "NewSingleThreadedRunner",
    "NotificationLogReader",
    "ProcessApplication",
    "ProcessingEvent",
    "Runner",
    "SingleThreadedRunner",
    "System",
]
