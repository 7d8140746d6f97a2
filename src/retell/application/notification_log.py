"""The notification log: an application's events in order, read in sections or pages.

`NotificationLog` reads the log from wherever its notifications come from (the
application's recorder, or a log served over HTTP: see `retell.interface`), and
`NotificationLogReader` reads any such log from a position to its end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

from retell.errors import RetellError
from retell.persistence.records import Notification


class Section(NamedTuple):
    """Part of the log: `id` is ``"first,last"`` of its items; `next_id` names the next part."""

    id: str | None
    items: list[Notification]
    next_id: str | None


class NotificationSource(Protocol):
    """Where a log's notifications come from: an `ApplicationRecorder` is one."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]: ...

    def max_notification_id(self) -> int | None: ...


class NotificationLog:
    """Reads an application's notification log: ``log["1,10"]`` or ``log.select(1, 10)``."""

    def __init__(self, recorder: NotificationSource, section_size: int = 10) -> None:
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

    def max_notification_id(self) -> int | None:
        """The last position a reader can see now; None while the log is empty."""
        return self.recorder.max_notification_id()


LocalNotificationLog = NotificationLog
"""The name the `eventsourcing` library gives an application's own log."""


class NotificationLogReader:
    """Reads a notification log from a position to its end, local or served over HTTP.

    `read` follows the log's linked sections one notification at a time; `select`
    pages through it `section_size` at a time, optionally only some topics and only
    up to a position. Both stop at the end of the log as it is when they get there.
    """

    def __init__(self, notification_log: NotificationLog, section_size: int = 10) -> None:
        if section_size < 1:
            raise RetellError(f"section_size must be at least 1, not {section_size}")
        self.notification_log = notification_log
        self.section_size = section_size

    def read(self, *, start: int) -> Iterator[Notification]:
        """Each notification from position `start` (below 1: from the first) on."""
        first = max(start, 1)
        section_id: str | None = f"{first},{first + self.section_size - 1}"
        while section_id is not None:
            section = self.notification_log[section_id]
            yield from section.items
            section_id = section.next_id

    def select(
        self,
        *,
        start: int | None,
        stop: int | None = None,
        topics: Sequence[str] = (),
        inclusive_of_start: bool = True,
    ) -> Iterator[list[Notification]]:
        """Pages of up to `section_size` notifications from `start` (None: the first)
        to `stop` (None: the end), only of `topics` if any are given. No empty pages."""
        limit = self.section_size
        while True:
            page = self.notification_log.select(
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            )
            if not page:
                return
            yield page
            last = page[-1].id
            if len(page) < limit or (stop is not None and last >= stop):
                return
            start, inclusive_of_start = last + 1, True
