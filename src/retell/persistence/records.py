"""What stores keep: events as bytes with their coordinates, and tracking positions.

Records are msgspec Structs (immutable, without garbage-collector overhead): a page of
500 notifications is 500 small objects, and making them must cost next to nothing.
"""

from __future__ import annotations

from uuid import UUID

import msgspec


class StoredEvent(msgspec.Struct, frozen=True, gc=False):
    """An event as a store keeps it: its aggregate, version, class topic and encoded state."""

    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


class Notification(StoredEvent, frozen=True, gc=False):
    """A stored event at its position `id` in the application's notification log."""

    id: int


class Tracking(msgspec.Struct, frozen=True, gc=False):
    """How far a follower has processed the log of the application `application_name`."""

    application_name: str
    notification_id: int
