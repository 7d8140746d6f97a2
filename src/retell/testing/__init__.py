"""Test helpers retell ships for its users: the conformance suite any store must pass."""

from retell.testing.recorders import (
    AggregateRecorderSuite,
    ApplicationRecorderSuite,
    ProcessRecorderSuite,
    TrackingRecorderSuite,
)

__all__ = [
    "AggregateRecorderSuite",
    "ApplicationRecorderSuite",
    "ProcessRecorderSuite",
    "TrackingRecorderSuite",
]
