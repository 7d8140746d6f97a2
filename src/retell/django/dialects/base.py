"""The SQL every database shares, and the hooks where they differ.

A dialect runs statements on a Django cursor, inside whatever transaction the
caller's connection is in; it never begins or commits one. Inserts are one
multi-row statement per batch of `BATCH` events: one round trip for a typical
save, not one per event (see docs/django.md for the measurements).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from retell.django import tables
from retell.persistence.records import Notification, StoredEvent

BATCH = 500
"""Events per INSERT statement: 2,500 parameters, well under every database's limit."""

_COLUMNS = "originator_id, originator_version, topic, state"
_ROW = "(%s, %s, %s, %s, %s)"


def to_uuid(value: Any) -> UUID:
    """A UUID from what a driver returns for a UUIDField (a UUID, or text)."""
    return value if isinstance(value, UUID) else UUID(value)


def to_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)


class Dialect:
    """The statements of one database vendor, for Django's connection `connection`."""

    supports_returning: bool
    # Whether a log write is one statement (so atomic on its own, in autocommit).
    log_write_is_one_statement: bool = False

    def __init__(self, connection: Any) -> None:
        self.vendor: str = connection.vendor
        self.supports_returning = bool(connection.features.can_return_rows_from_bulk_insert)
        self._uuid_field: Any = None

    def prepared_cursor(self, connection: Any) -> Any:
        """A cursor on Django's connection `connection` for the statements every command
        runs, faster than Django's own, or None: use Django's (see `retell.django.database`)."""
        return None

    # Parameters

    def uuid_param(self, connection: Any, value: UUID) -> Any:
        """A UUID as the UUIDField of this database stores it (text or native)."""
        if self._uuid_field is None:
            from retell.django.models import EventRecord

            self._uuid_field = EventRecord._meta.get_field("originator_id")
        return self._uuid_field.get_db_prep_value(value, connection)

    def rows(
        self, connection: Any, application_name: str, events: Sequence[StoredEvent]
    ) -> list[Any]:
        """The parameters of the rows to insert, flattened."""
        params: list[Any] = []
        for e in events:
            uuid = self.uuid_param(connection, e.originator_id)
            params += (application_name, uuid, e.originator_version, e.topic, e.state)
        return params

    # Writes

    def before_log_write(self, cursor: Any, application_name: str) -> None:
        """Anything a writer of the log must do before it inserts (MySQL: lock the log)."""

    def insert(
        self, cursor: Any, table: str, application_name: str, events: Sequence[StoredEvent]
    ) -> None:
        """Insert events that need no log position (snapshots)."""
        for batch in _batches(events):
            cursor.execute(
                self._insert_sql(table, len(batch)), self.rows(cursor.db, application_name, batch)
            )

    def insert_log(
        self, cursor: Any, table: str, application_name: str, events: Sequence[StoredEvent]
    ) -> list[int]:
        """Insert events into the log; their positions, in the order of `events`."""
        ids: list[int] = []
        for batch in _batches(events):
            sql = self._insert_sql(table, len(batch))
            params = self.rows(cursor.db, application_name, batch)
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
        originator_id: UUID,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        sql = (
            f"SELECT originator_version, topic, state FROM {table} "
            "WHERE application_name = %s AND originator_id = %s"
        )
        params: list[Any] = [application_name, self.uuid_param(cursor.db, originator_id)]
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
        return [
            Notification(to_uuid(originator_id), version, topic, to_bytes(state), id_)
            for id_, originator_id, version, topic, state in cursor.fetchall()
        ]

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
        self, cursor: Any, table: str, application_name: str, originator_id: UUID, version: int
    ) -> bool:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE application_name = %s AND originator_id = %s "
            "AND originator_version = %s",
            (application_name, self.uuid_param(cursor.db, originator_id), version),
        )
        return cursor.fetchone() is not None


def _batches(events: Sequence[StoredEvent]) -> list[Sequence[StoredEvent]]:
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
