"""What stores keep: events as bytes with their coordinates, and tracking positions.

Records are msgspec Structs (immutable, without garbage-collector overhead): a page of
500 notifications is 500 small objects, and making them must cost next to nothing.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from retell.errors import RetellError


class StoredEvent(msgspec.Struct, frozen=True, gc=False):
    """An event as a store keeps it: its aggregate, version, class topic and encoded state.

    `originator_id` is a UUID or a str, as the store keeps it: the mapper gives the
    decoded event this id, so its type is the one the store reads back.
    """

    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


class Notification(StoredEvent, frozen=True, gc=False):
    """A stored event at its position `id` in the application's notification log."""

    id: int


class Tracking(msgspec.Struct, frozen=True, gc=False):
    """How far a follower has processed the log of the application `application_name`.

    A follower that records a run of positions in one transaction sets `first_id` to
    the run's first position. Stores refuse the record unless the position recorded
    before is below `first_id`, not merely below `notification_id`: a run that
    overlaps what another process recorded meanwhile is refused whole, never applied
    twice.
    """

    application_name: str
    notification_id: int
    first_id: int | None = None

    def __post_init__(self) -> None:
        if self.first_id is not None and not 0 < self.first_id <= self.notification_id:
            raise RetellError(
                f"a tracking record's first_id must be between 1 and its notification_id "
                f"({self.notification_id}), not {self.first_id}"
            )

    @property
    def first(self) -> int:
        """The lowest position this record covers: the recorded one must be below it."""
        return self.notification_id if self.first_id is None else self.first_id
