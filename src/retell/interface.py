"""An application's notification log served as JSON, and read back from it.

A follower in another process, or on another machine, may not reach the leader's
database. `NotificationLogJSONService` turns the leader's log into JSON text, to be
served by any web framework; `NotificationLogJSONClient` turns that text back into
sections and pages, so that `NotificationLogReader` and
``ProcessApplication.follow(name, client)`` read it as they read a local log. The
transport between them is yours: a `NotificationLogInterface` whose methods fetch
what the service's methods of the same names return (an HTTP GET each, say).

The JSON is the `eventsourcing` library's, so either side may be that library: a
section is ``{"id", "next_id", "items"}``, a page is a list of items, and an item is
``{"id", "originator_id", "originator_version", "topic", "state"}``, with the
aggregate id as 32 hex digits (a UUID) or as it is (a str id), and the stored bytes
(encrypted, if the leader encrypts) in base64. The client reads 32 lowercase hex
digits as a UUID and any other id as a str, unless told the leader's id type.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar
from uuid import UUID

import msgspec

from retell.application.application import Application
from retell.application.notification_log import NotificationLog, Section
from retell.errors import TranscodingError
from retell.persistence.ids import IdType
from retell.persistence.records import Notification

__all__ = [
    "NotificationLogInterface",
    "NotificationLogJSONClient",
    "NotificationLogJSONService",
]

A = TypeVar("A", bound=Application)
T = TypeVar("T")


class NotificationLogInterface(ABC):
    """Gets a notification log's sections and pages as text, from wherever it is served."""

    @abstractmethod
    def get_log_section(self, section_id: str) -> str:
        """The section `section_id` (``"first,last"``), as text."""

    @abstractmethod
    def get_notifications(
        self,
        start: int | None,
        limit: int,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> str:
        """Up to `limit` notifications from position `start`, only of `topics` if any
        are given, as text."""

    def get_max_notification_id(self) -> str:
        """The log's last position (``null`` while it is empty), as text.

        Optional: without it, the client finds the last position with a few
        `get_notifications` calls. A follower asks for it when it starts a pull, to
        check that the leader's log was not reset behind it.
        """
        raise NotImplementedError


class _Item(msgspec.Struct):
    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes  # base64 in JSON


class _Section(msgspec.Struct):
    id: str | None
    next_id: str | None
    items: list[_Item]


_encoder = msgspec.json.Encoder()
_section_decoder = msgspec.json.Decoder(_Section)
_page_decoder = msgspec.json.Decoder(list[_Item])
_position_decoder = msgspec.json.Decoder(int | None)


def _item(notification: Notification) -> _Item:
    originator_id = notification.originator_id
    return _Item(
        notification.id,
        originator_id.hex if isinstance(originator_id, UUID) else str(originator_id),
        notification.originator_version,
        notification.topic,
        notification.state,
    )


class NotificationLogJSONService(NotificationLogInterface, Generic[A]):
    """Serves the notification log of the application `app` as JSON text."""

    def __init__(self, app: A) -> None:
        self.app = app

    def get_log_section(self, section_id: str) -> str:
        section = self.app.notification_log[section_id]
        items = [_item(n) for n in section.items]
        return _encoder.encode(_Section(section.id, section.next_id, items)).decode()

    def get_notifications(
        self,
        start: int | None,
        limit: int,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> str:
        notifications = self.app.notification_log.select(
            start, limit, topics=topics, inclusive_of_start=inclusive_of_start
        )
        return _encoder.encode([_item(n) for n in notifications]).decode()

    def get_max_notification_id(self) -> str:
        return _encoder.encode(self.app.notification_log.max_notification_id()).decode()


class NotificationLogJSONClient(NotificationLog):
    """A notification log read through `interface`, from a `NotificationLogJSONService`.

    `originator_id_type` is the leader's id type, where the JSON cannot tell: ``text``
    keeps every id a str (a str id of 32 hex digits would otherwise be read as a
    UUID), ``uuid`` requires UUIDs. By default 32 hex digits are a UUID.
    """

    def __init__(
        self, interface: NotificationLogInterface, *, originator_id_type: IdType | None = None
    ) -> None:
        super().__init__(_JSONNotifications(interface, originator_id_type))
        self.interface = interface
        self.originator_id_type = originator_id_type

    def __getitem__(self, section_id: str) -> Section:
        body = self.interface.get_log_section(section_id)
        section = _decode(_section_decoder, body, "a section")
        items = _notifications(section.items, self.originator_id_type)
        return Section(section.id, items, section.next_id)


class _JSONNotifications:
    """The log's pages, read through an interface: the client's notification source."""

    def __init__(self, interface: NotificationLogInterface, id_type: IdType | None) -> None:
        self.interface = interface
        self.id_type = id_type

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        body = self.interface.get_notifications(
            start, limit, topics, inclusive_of_start=inclusive_of_start
        )
        items = _decode(_page_decoder, body, "a list of notifications")
        notifications = _notifications(items, self.id_type)
        if stop is not None:  # the interface takes no stop: the page is cut here
            notifications = [n for n in notifications if n.id <= stop]
        return notifications

    def max_notification_id(self) -> int | None:
        try:
            body = self.interface.get_max_notification_id()
        except NotImplementedError:
            return self._probe_max_notification_id()
        return _decode(_position_decoder, body, "a position")

    def _probe_max_notification_id(self) -> int | None:
        """The last position, found by asking for one notification at a time: a few
        dozen requests however long the log (the gaps between positions allowed)."""
        first = self.select_notifications(None, 1)
        if not first:
            return None
        low, step = first[0].id, 1  # a notification is at low
        while found := self.select_notifications(low + step, 1):
            low, step = found[0].id, step * 2
        high = low + step  # none is at high or beyond
        while high - low > 1:
            middle = (low + high) // 2
            found = self.select_notifications(middle, 1)
            if found:
                low = found[0].id
            else:
                high = middle
        return low


def _decode(decoder: msgspec.json.Decoder[T], body: str | bytes, what: str) -> T:
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise TranscodingError(
            f"the notification log's interface returned something that is not {what} "
            f"in the JSON of NotificationLogJSONService ({error}): {str(body)[:200]!r}"
        ) from None


_HEX_UUID = re.compile(r"[0-9a-f]{32}\Z")


def _notifications(items: list[_Item], id_type: IdType | None = None) -> list[Notification]:
    try:
        return [
            Notification(
                originator_id=_id(item.originator_id, id_type),
                originator_version=item.originator_version,
                topic=item.topic,
                state=item.state,
                id=item.id,
            )
            for item in items
        ]
    except ValueError as error:
        raise TranscodingError(
            f"the notification log's interface returned an originator_id that is not a "
            f"UUID ({error}), and the client was made with originator_id_type='uuid'"
        ) from None


def _id(text: str, id_type: IdType | None) -> UUID | str:
    """An id from its JSON: a UUID's 32 hex digits, or a str id."""
    if id_type == "text" or (id_type is None and not _HEX_UUID.match(text)):
        return text
    return UUID(text)
