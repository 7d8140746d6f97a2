"""Systems of applications: process applications following leaders, and their runners."""

from retell.system.definition import System
from retell.system.processing import ProcessApplication, ProcessingEvent
from retell.system.runners import MultiThreadedRunner, Runner, SingleThreadedRunner

__all__ = [
    "MultiThreadedRunner",
    "ProcessApplication",
    "ProcessingEvent",
    "Runner",
    "SingleThreadedRunner",
    "System",
]
