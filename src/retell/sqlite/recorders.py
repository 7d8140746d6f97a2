"""The SQLite recorders: each call is one statement, or one short write transaction.

Aggregate ids are stored as 16-byte BLOBs (half the size of hex text, so a smaller
index, and no parsing when read back), or, with ``ORIGINATOR_ID_TYPE=text``, str ids
as TEXT. An id of the other type is refused before the write transaction begins.
`select_events` does not read the id back at all: it is the id that was asked for.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from uuid import UUID

from retell.errors import ConcurrencyError, IntegrityError, tracking_not_higher
from retell.persistence.ids import KEY, wrong_id_type
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from retell.persistence.records import Notification, StoredEvent, Tracking
from retell.sqlite.database import SQLiteDatabase

_MIN = -(2**63)
_MAX = 2**63 - 1
"""SQLite's integer range: the bounds of a query that has none (one statement serves all)."""

_COLUMNS = "originator_id, originator_version, topic, state"


class _Statements:
    """The SQL of the recorders, written once per recorder with its table names."""

    def __init__(self, events: str, tracking: str) -> None:
        self.insert_events = f"INSERT INTO {events} ({_COLUMNS}) VALUES (?, ?, ?, ?)"
        where = "originator_id = ? AND originator_version > ? AND originator_version <= ?"
        select = f"SELECT originator_version, topic, state FROM {events} WHERE {where}"
        self.select_events = f"{select} ORDER BY originator_version LIMIT ?"
        self.select_events_desc = f"{select} ORDER BY originator_version DESC LIMIT ?"
        self.version_taken = (
            f"SELECT 1 FROM {events} WHERE originator_id = ? AND originator_version = ?"
        )
        self._notifications = (
            f"SELECT notification_id, {_COLUMNS} FROM {events} "
            "WHERE notification_id >= ? AND notification_id <= ?{topics} "
            "ORDER BY notification_id LIMIT ?"
        )
        self._notifications_by_topics: dict[int, str] = {}
        self.max_notification_id = f"SELECT max(notification_id) FROM {events}"
        self.upsert_tracking = (
            f"INSERT INTO {tracking} (application_name, notification_id) VALUES (?, ?) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = "
            f"excluded.notification_id WHERE {tracking}.notification_id < ?"
        )
        self.select_tracking = f"SELECT notification_id FROM {tracking} WHERE application_name = ?"
        self.delete_tracking = f"DELETE FROM {tracking} WHERE application_name = ?"

    def select_notifications(self, topics: int) -> str:
        """The query for a page of the log, filtered by `topics` topics if above zero."""
        statement = self._notifications_by_topics.get(topics)
        if statement is None:
            where = f" AND topic IN ({', '.join('?' * topics)})" if topics else ""
            statement = self._notifications.format(topics=where)
            self._notifications_by_topics[topics] = statement
        return statement


class _SQLiteRecorder:
    """What every SQLite recorder has: the database, held (attached) until `close`."""

    def __init__(
        self, database: SQLiteDatabase, *, events_table: str = "", tracking_table: str = ""
    ) -> None:
        super().__init__()
        self.database = database
        self.events_table = events_table
        self.tracking_table = tracking_table
        self._sql = _Statements(events_table, tracking_table)
        self._id_type = database.settings.originator_id_type
        self._text_ids = self._id_type == "text"
        self._closed = False
        database.attach()

    def _id_param(self, originator_id: Any) -> bytes | str:
        """The id as its column holds it; `DataError` for an id of the other type."""
        if self._text_ids:
            if isinstance(originator_id, str):
                return originator_id
        elif isinstance(originator_id, UUID):
            return originator_id.bytes
        raise self._wrong_id(originator_id)

    def _wrong_id(self, originator_id: Any) -> Exception:
        return wrong_id_type(originator_id, self._id_type, self.database.settings.describe(KEY))

    def _rows(self, stored_events: Sequence[StoredEvent]) -> list[tuple[Any, ...]]:
        """The rows to insert, checked before any transaction begins."""
        if self._text_ids:
            rows = [
                (e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events
            ]
            for row in rows:
                if type(row[0]) is not str:
                    self._id_param(row[0])  # a str subclass passes; anything else raises
            return rows
        try:
            return [
                (e.originator_id.bytes, e.originator_version, e.topic, e.state)  # type: ignore[union-attr]
                for e in stored_events
            ]
        except AttributeError:
            for e in stored_events:
                self._id_param(e.originator_id)
            raise

    def close(self) -> None:
        """Let go of the database; the last recorder of a factory to go closes it."""
        if not self._closed:
            self._closed = True
            self.database.detach()


class SQLiteAggregateRecorder(_SQLiteRecorder, AggregateRecorder):
    """Events (or snapshots) by aggregate and version, in the table `events_table`."""

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        if stored_events:
            rows = self._rows(stored_events)
            with self.database.transaction() as connection:
                self._insert(connection, stored_events, rows)
        return None

    def _insert(
        self,
        connection: sqlite3.Connection,
        stored_events: Sequence[StoredEvent],
        rows: list[tuple[Any, ...]],
    ) -> sqlite3.Cursor:
        """Insert `rows` (of `stored_events`) in the caller's transaction: one statement,
        batched for several events."""
        try:
            if len(rows) == 1:
                return connection.execute(self._sql.insert_events, rows[0])
            return connection.executemany(self._sql.insert_events, rows)
        except sqlite3.IntegrityError as error:
            raise self._conflict(connection, stored_events, error) from error

    def _conflict(
        self,
        connection: sqlite3.Connection,
        stored_events: Sequence[StoredEvent],
        error: sqlite3.IntegrityError,
    ) -> IntegrityError:
        """Which event's version was taken. Rolls back first: the batch's own rows must go."""
        connection.rollback()
        seen: set[tuple[UUID | str, int]] = set()
        for event in stored_events:
            key = (event.originator_id, event.originator_version)
            parameters = (self._id_param(event.originator_id), event.originator_version)
            if key in seen or connection.execute(self._sql.version_taken, parameters).fetchone():
                return ConcurrencyError.version_taken(event.originator_id, event.originator_version)
            seen.add(key)
        return IntegrityError(f"the events could not be recorded in {self.events_table}: {error}")

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        if type(originator_id) is UUID and not self._text_ids:
            key: bytes | str = originator_id.bytes
        else:
            key = self._id_param(originator_id)
        rows = self.database.read(
            self._sql.select_events_desc if desc else self._sql.select_events,
            (
                key,
                _MIN if gt is None else gt,
                _MAX if lte is None else lte,
                -1 if limit is None else limit,  # SQLite: a negative LIMIT is no limit
            ),
        )
        return [StoredEvent(originator_id, v, topic, state) for v, topic, state in rows]


class SQLiteApplicationRecorder(SQLiteAggregateRecorder, ApplicationRecorder):
    """Events whose rowids, given out under the write lock, are the notification ids."""

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        if not stored_events:
            return []  # no need to wait for the write lock
        rows = self._rows(stored_events)
        with self.database.transaction() as connection:
            ids = self._insert_notifications(connection, stored_events, rows)
        self.notify_subscribers()
        return ids

    def _insert_notifications(
        self,
        connection: sqlite3.Connection,
        stored_events: Sequence[StoredEvent],
        rows: list[tuple[Any, ...]],
    ) -> list[int]:
        """Insert, and say which ids the rows got: consecutive ones, as one writer holds the
        lock and the table gives each new row the highest id so far plus one."""
        if not stored_events:
            return []
        last: Any = self._insert(connection, stored_events, rows).lastrowid
        if len(stored_events) > 1:  # executemany does not report it
            (last,) = connection.execute("SELECT last_insert_rowid()").fetchone()
        return list(range(last - len(stored_events) + 1, last + 1))

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        if limit <= 0:
            return []  # SQLite would read a negative limit as none
        first = _MIN if start is None else start if inclusive_of_start else min(start + 1, _MAX)
        last = _MAX if stop is None else stop
        rows = self.database.read(
            self._sql.select_notifications(len(topics)), (first, last, *topics, limit)
        )
        if self._text_ids:
            return [Notification(i, v, t, s, n) for n, i, v, t, s in rows]
        ids: dict[bytes, UUID] = {}  # an aggregate's events often come together: parse once
        return [
            Notification(
                ids.get(originator_id) or ids.setdefault(originator_id, UUID(bytes=originator_id)),
                version,
                topic,
                state,
                notification_id,
            )
            for notification_id, originator_id, version, topic, state in rows
        ]

    def max_notification_id(self) -> int | None:
        rows = self.database.read(self._sql.max_notification_id, ())
        result: int | None = rows[0][0]
        return result


class SQLiteTrackingRecorder(_SQLiteRecorder, TrackingRecorder):
    """One row per leader: the last position processed, only ever raised.

    Also the base of a view (see `retell.projection`): a subclass lists the statements
    that create its tables in `create_view_statements`, writes in `transaction(tracking)`
    and reads with ``self.database.read(sql, parameters)``.
    """

    create_view_statements: ClassVar[Sequence[str]] = ()
    """DDL a view needs, run with the tracking table's (so use IF NOT EXISTS)."""

    @contextlib.contextmanager
    def transaction(self, tracking: Tracking | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction on the view's database that also records `tracking`.

        The position is recorded first, so an event processed already raises
        `IntegrityError` before the body runs; an error in the body undoes both.
        """
        with self.database.transaction() as connection:
            if tracking is not None:
                self._insert_tracking(connection, tracking)
            yield connection

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.transaction(tracking):
            pass

    def delete_tracking(self, application_name: str) -> None:
        with self.transaction() as connection:
            connection.execute(self._sql.delete_tracking, (application_name,))

    def _insert_tracking(self, connection: sqlite3.Connection, tracking: Tracking) -> None:
        """Raise the leader's position in the caller's transaction, or refuse if not higher."""
        name, first = tracking.application_name, tracking.first
        upsert = (name, tracking.notification_id, first)
        if connection.execute(self._sql.upsert_tracking, upsert).rowcount == 0:
            (last,) = connection.execute(self._sql.select_tracking, (name,)).fetchone()
            raise tracking_not_higher(name, first, last)

    def max_tracking_id(self, application_name: str) -> int | None:
        rows = self.database.read(self._sql.select_tracking, (application_name,))
        return int(rows[0][0]) if rows else None


class SQLiteProcessRecorder(SQLiteApplicationRecorder, SQLiteTrackingRecorder, ProcessRecorder):
    """A follower's new events and its tracking position, in one transaction."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, tracking: Tracking | None = None
    ) -> Sequence[int]:
        if not stored_events and tracking is None:
            return []
        rows = self._rows(stored_events)
        with self.transaction(tracking) as connection:
            ids = self._insert_notifications(connection, stored_events, rows)
        if ids:
            self.notify_subscribers()
        return ids
