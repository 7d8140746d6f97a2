"""The notification log: an application's events in order, read in sections or pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from retell.errors import RetellError
from retell.persistence.recorders import ApplicationRecorder
from retell.persistence.records import Notification


class Section(NamedTuple):
    """Part of the log: `id` is ``"first,last"`` of its items; `next_id` names the next part."""

    id: str | None
    items: list[Notification]
    next_id: str | None


class NotificationLog:
    """Reads an application's notification log: ``log["1,10"]`` or ``log.select(1, 10)``."""

    def __init__(self, recorder: ApplicationRecorder, section_size: int = 10) -> None:
        self.recorder = recorder
        self.section_size = section_size

    def __getitem__(self, section_id: str) -> Section:
        first, last = self._parse(section_id)
        limit = min(last - first + 1, self.section_size)
        items = self.recorder.select_notifications(first, limit)
        if not items:
            return Section(None, [], None)
        end = items[-1].id
        next_id = f"{end + 1},{end + limit}" if len(items) == limit else None
        return Section(f"{items[0].id},{end}", items, next_id)

    @staticmethod
    def _parse(section_id: str) -> tuple[int, int]:
        try:
            first_text, last_text = section_id.split(",")
            first, last = int(first_text), int(last_text)
        except (ValueError, AttributeError):
            raise RetellError(
                f"{section_id!r} is not a section id: use 'first,last', e.g. '1,10'"
            ) from None
        if not 1 <= first <= last:
            raise RetellError(
                f"section {section_id!r}: positions start at 1 and first must not exceed last"
            )
        return first, last

    def select(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        """Up to `limit` notifications from position `start`, as the recorder gives them."""
        return self.recorder.select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
