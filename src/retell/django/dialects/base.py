"""The SQL every database shares, and the hooks where they differ.

A dialect runs statements on a Django cursor, inside whatever transaction the
caller's connection is in; it never begins or commits one. Inserts are one
multi-row statement per batch of `BATCH` events: one round trip for a typical
save, not one per event (see docs/django.md for the measurements).

A dialect serves every application on its alias; how an application's ids go into
the text column and come back is its `IdCodec`, passed with each call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from retell.django import tables
from retell.errors import DataError
from retell.persistence.ids import KEY, IdType, wrong_id_type
from retell.persistence.records import Notification, StoredEvent

BATCH = 500
"""Events per INSERT statement: 2,500 parameters, well under every database's limit."""

_COLUMNS = "originator_id, originator_version, topic, state"
_ROW = "(%s, %s, %s, %s, %s)"


def to_uuid(value: Any) -> UUID:
    """A UUID from its text (or a UUID, from a column not yet migrated to text)."""
    if type(value) is UUID:
        return value
    uuid: UUID = msgspec.convert(value, UUID)  # in C: a third of UUID(value)'s time
    return uuid


def to_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)


class IdCodec:
    """How one application's aggregate ids are written to the text column and read back.

    With `id_type` ``uuid`` a UUID is written as its canonical text and read back a
    UUID; with ``text`` a str is written and read as it is. An id of the other type
    is refused (`DataError`, naming `key`) before anything is written: read back, it
    would come back as the other type.
    """

    __slots__ = ("id_type", "key", "text")

    def __init__(self, id_type: IdType = "uuid", key: str = KEY) -> None:
        self.id_type = id_type
        self.key = key
        self.text = id_type == "text"

    def param(self, originator_id: Any) -> str:
        """The id as the column holds it."""
        if self.text:
            if type(originator_id) is str and len(originator_id) <= tables.ID_LENGTH:
                return originator_id
        elif type(originator_id) is UUID:
            text: str = msgspec.to_builtins(originator_id)  # a quarter of str()'s time
            return text
        return self._param(originator_id)

    def _param(self, originator_id: Any) -> str:
        """`param` for a subclass of the id type, a long id, or an id of the wrong type."""
        if self.text and isinstance(originator_id, str):
            if len(originator_id) > tables.ID_LENGTH:
                raise DataError(
                    f"the aggregate id {originator_id[:40]!r}... has {len(originator_id)} "
                    f"characters: the Django store keeps ids of up to {tables.ID_LENGTH}."
                )
            return str.__str__(originator_id)
        if not self.text and isinstance(originator_id, UUID):
            return str(originator_id)
        raise wrong_id_type(originator_id, self.id_type, self.key)

    def params(self, events: Sequence[StoredEvent]) -> list[str]:
        param = self.param
        return [param(e.originator_id) for e in events]

    def check(self, events: Sequence[StoredEvent]) -> None:
        """Refuse the events if an id is not of the type (`param` says why)."""
        cls = str if self.text else UUID
        for event in events:
            originator_id = event.originator_id
            if type(originator_id) is not cls or (
                self.text and len(originator_id) > tables.ID_LENGTH  # type: ignore[arg-type]
            ):
                self._param(originator_id)

    def notifications(self, rows: Sequence[Any]) -> list[Notification]:
        """Notifications from rows of (id, originator_id, version, topic, state)."""
        if self.text:
            return [Notification(o, v, t, to_bytes(s), i) for i, o, v, t, s in rows]
        parsed: dict[Any, UUID] = {}  # an aggregate's events often come together: parse once
        return [
            Notification(parsed.get(o) or parsed.setdefault(o, to_uuid(o)), v, t, to_bytes(s), i)
            for i, o, v, t, s in rows
        ]


UUID_IDS = IdCodec()
"""The codec of an application whose ids are UUIDs (the default)."""


class Dialect:
    """The statements of one database vendor, for Django's connection `connection`."""

    supports_returning: bool
    # Whether a log write is one statement (so atomic on its own, in autocommit).
    log_write_is_one_statement: bool = False

    def __init__(self, connection: Any) -> None:
        self.vendor: str = connection.vendor
        self.supports_returning = bool(connection.features.can_return_rows_from_bulk_insert)

    def prepared_cursor(self, connection: Any) -> Any:
        """A cursor on Django's connection `connection` for the statements every command
        runs, faster than Django's own, or None: use Django's (see `retell.django.database`)."""
        return None

    # Parameters

    def rows(self, application_name: str, events: Sequence[StoredEvent], ids: IdCodec) -> list[Any]:
        """The parameters of the rows to insert, flattened."""
        params: list[Any] = []
        for e, id_ in zip(events, ids.params(events), strict=True):
            params += (application_name, id_, e.originator_version, e.topic, e.state)
        return params

    # Writes

    def before_log_write(self, cursor: Any, application_name: str) -> None:
        """Anything a writer of the log must do before it inserts (MySQL: lock the log)."""

    def insert(
        self,
        cursor: Any,
        table: str,
        application_name: str,
        events: Sequence[StoredEvent],
        id_codec: IdCodec = UUID_IDS,
    ) -> None:
        """Insert events that need no log position (snapshots)."""
        batches = [(b, self.rows(application_name, b, id_codec)) for b in _batches(events)]
        for batch, params in batches:  # every id checked before the first statement
            cursor.execute(self._insert_sql(table, len(batch)), params)

    def insert_log(
        self,
        cursor: Any,
        table: str,
        application_name: str,
        events: Sequence[StoredEvent],
        id_codec: IdCodec = UUID_IDS,
    ) -> list[int]:
        """Insert events into the log; their positions, in the order of `events`."""
        ids: list[int] = []
        batches = [(b, self.rows(application_name, b, id_codec)) for b in _batches(events)]
        for batch, params in batches:  # every id checked before the first statement
            sql = self._insert_sql(table, len(batch))
            if self.supports_returning:
                cursor.execute(sql + " RETURNING id", params)
                ids += sorted(row[0] for row in cursor.fetchall())
            else:
                cursor.execute(sql, params)
                ids += self.ids_from_lastrowid(cursor.lastrowid, len(batch))
        return ids

    def ids_from_lastrowid(self, lastrowid: int, count: int) -> list[int]:
        """The ids of a multi-row insert, where the driver reports only one of them."""
        raise NotImplementedError

    @staticmethod
    def _insert_sql(table: str, count: int) -> str:
        return f"INSERT INTO {table} (application_name, {_COLUMNS}) VALUES " + ", ".join(
            [_ROW] * count
        )

    def record_tracking(
        self, cursor: Any, owner: str, leader: str, position: int, first: int
    ) -> bool:
        """Move `owner`'s position in `leader`'s log to `position`; False unless the
        recorded one is below `first` (`Tracking.first`).

        SQLite and PostgreSQL: an upsert whose update only applies to a lower position.
        """
        cursor.execute(
            f"INSERT INTO {tables.TRACKING} "
            "(application_name, upstream_application_name, notification_id) "
            "VALUES (%s, %s, %s) "
            "ON CONFLICT (application_name, upstream_application_name) DO UPDATE "
            "SET notification_id = excluded.notification_id "
            f"WHERE {tables.TRACKING}.notification_id < %s",
            (owner, leader, position, first),
        )
        return bool(cursor.rowcount)

    # Reads

    def horizon(self, cursor: Any) -> tuple[int, str] | None:
        """The position below which the log is settled, and the server incarnation it
        holds on (`retell.persistence.horizon`); None: all committed rows are settled."""
        return None

    def select_events(
        self,
        cursor: Any,
        *,
        table: str,
        application_name: str,
        originator_id: UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
        id_codec: IdCodec = UUID_IDS,
    ) -> list[StoredEvent]:
        sql = (
            f"SELECT originator_version, topic, state FROM {table} "
            "WHERE application_name = %s AND originator_id = %s"
        )
        params: list[Any] = [application_name, id_codec.param(originator_id)]
        if gt is not None:
            sql += " AND originator_version > %s"
            params.append(gt)
        if lte is not None:
            sql += " AND originator_version <= %s"
            params.append(lte)
        sql += " ORDER BY originator_version" + (" DESC" if desc else "")
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        cursor.execute(sql, params)
        return [
            StoredEvent(originator_id, version, topic, to_bytes(state))
            for version, topic, state in cursor.fetchall()
        ]

    def select_notifications(
        self,
        cursor: Any,
        *,
        name: str,
        first: int,
        end: int | None,
        limit: int,
        topics: Sequence[str],
        id_codec: IdCodec = UUID_IDS,
    ) -> list[Notification]:
        """Up to `limit` notifications of the log `name` with first <= id < end, of
        `topics` if any."""
        sql = f"SELECT id, {_COLUMNS} FROM {tables.EVENTS} WHERE application_name = %s AND id >= %s"
        params: list[Any] = [name, first]
        if end is not None:
            sql += " AND id < %s"
            params.append(end)
        if topics:
            sql += " AND topic IN (" + ", ".join(["%s"] * len(topics)) + ")"
            params += topics
        sql += " ORDER BY id LIMIT %s"
        params.append(limit)
        cursor.execute(sql, params)
        return id_codec.notifications(cursor.fetchall())

    def max_notification_id(
        self, cursor: Any, application_name: str, upper: int | None
    ) -> int | None:
        sql = f"SELECT MAX(id) FROM {tables.EVENTS} WHERE application_name = %s"
        params: list[Any] = [application_name]
        if upper is not None:
            sql += " AND id < %s"
            params.append(upper)
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def version_taken(
        self,
        cursor: Any,
        table: str,
        application_name: str,
        originator_id: UUID | str,
        version: int,
        id_codec: IdCodec = UUID_IDS,
    ) -> bool:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE application_name = %s AND originator_id = %s "
            "AND originator_version = %s",
            (application_name, id_codec.param(originator_id), version),
        )
        return cursor.fetchone() is not None


def _batches(events: Sequence[StoredEvent]) -> list[Sequence[StoredEvent]]:
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
