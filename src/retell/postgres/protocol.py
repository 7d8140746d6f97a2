"""The write and read protocol of the store: SQL, and functions that run it on a cursor.

Nothing here opens, pools or commits a connection: each function runs statements on
the psycopg cursor it is given, in whatever transaction its connection is in. The
recorders of this package give it a cursor of a pooled connection in autocommit
mode, where each save is one statement and so one transaction; the Django store
gives it a cursor of the connection of the caller's ``transaction.atomic()``, so a
save commits with the caller's own writes. Either way the protocol is the same:

- a save is *one* statement: it allocates the ids through ``retell_allocate_ids``
  (which marks them in flight, see `retell.postgres.schema`; for one event, the same
  lock and ``nextval`` are inline), inserts the events, and,
  for a follower, upserts the tracking position in a CTE, refusing one that does not
  move forward;
- a reader first asks ``retell_settled_horizon`` for the position below which every
  transaction is over, then, in a *later statement* (so with a snapshot taken after
  that answer), selects below it. The later statement must not reuse an earlier
  snapshot: read in autocommit or READ COMMITTED, never REPEATABLE READ.

The queries are rendered to text once per table set and prepared on each connection
on first use. The ones every command runs (an aggregate's read, a save of one event,
the horizon) go straight through libpq (`retell.postgres.libpq`); the others through
the cursor (``prepare=True``).

Ids are UUIDs in a ``uuid`` column or strs in a ``text`` one (``ORIGINATOR_ID_TYPE``).
An id of the other type is refused before anything is sent: sent as it is, a UUID
would be written to a text column as its 16 raw bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from retell.persistence.horizon import INCARNATION
from retell.persistence.ids import KEY, IdType, wrong_id_type
from retell.persistence.records import Notification, StoredEvent, Tracking
from retell.postgres.libpq import Statement, statements
from retell.postgres.names import TableNames, with_parameters
from retell.postgres.schema import mark_in_flight

Cursor = psycopg.Cursor[Any]

_COLUMNS = "originator_id, originator_version, topic, state"

# Several events: one array per column, unnested into rows. (psycopg dumps arrays in
# Python, so one event goes as scalar parameters instead: see NotificationLog.)
_ARRAYS = "%(ids)b::{id_type}[], %(versions)b::integer[], %(topics)b::text[], %(states)b::bytea[]"


def _render(template: str, **identifiers: sql.Composable) -> str:
    """SQL text with identifiers quoted, rendered once (psycopg would on each execute).

    Every query here runs with parameters (some with none: ``{}``), so that a ``%`` in
    a name is always read the same way.
    """
    escaped = {key: with_parameters(value) for key, value in identifiers.items()}
    return sql.SQL(template).format(**escaped).as_string(None)


class EventTable:
    """The SQL of one table of events by aggregate: the events table, or the snapshots.

    Its ids are of `id_type`; `id_key` is ``ORIGINATOR_ID_TYPE`` as the user set it,
    for the error that refuses an id of the other type.
    """

    def __init__(
        self, tables: TableNames, name: str, id_type: IdType = "uuid", id_key: str = KEY
    ) -> None:
        self.table = tables.identifier(name)
        self.id_type = id_type
        self.id_class: type = str if id_type == "text" else UUID
        self.id_key = id_key
        self.insert = _render(
            "INSERT INTO {table} (" + _COLUMNS + ") SELECT * FROM unnest(" + _ARRAYS + ")",
            table=self.table,
            id_type=sql.SQL(id_type),
        )
        self._selects: dict[tuple[bool, bool, bool, bool], Statement] = {}
        self.select_all = self.select(gt=False, lte=False, desc=False, limit=False)
        """`select` with no option: the read of a whole aggregate, the most frequent."""

    def select(self, *, gt: bool, lte: bool, desc: bool, limit: bool) -> Statement:
        """The query for one combination of the optional conditions of `select_events`.

        It leaves out the aggregate's id, which the caller has."""
        key = (gt, lte, desc, limit)
        query = self._selects.get(key)
        if query is None:
            text = "SELECT originator_version, topic, state FROM {table} "
            text += "WHERE originator_id = %(id)s"
            text += " AND originator_version > %(gt)s" if gt else ""
            text += " AND originator_version <= %(lte)s" if lte else ""
            text += " ORDER BY originator_version" + (" DESC" if desc else "")
            text += " LIMIT %(limit)s" if limit else ""
            query = self._selects[key] = Statement(_render(text, table=self.table))
        return query

    def check_ids(self, events: Sequence[StoredEvent]) -> None:
        """Refuse, before anything is sent, an event whose id is not of this table's type."""
        cls = self.id_class
        for event in events:
            if type(event.originator_id) is not cls:
                self.check_id(event.originator_id)

    def check_id(self, originator_id: Any) -> None:
        """Refuse an id that is not of this table's type (a subclass of it is of it)."""
        if not isinstance(originator_id, self.id_class):
            raise wrong_id_type(originator_id, self.id_type, self.id_key)


class TrackingTable:
    """The SQL of a follower's tracking table: one row per leader, moving only forward.

    The upsert refuses a record whose first position (`Tracking.first`: the position
    itself, or the first of a run recorded at once) is at or below the recorded one,
    by setting the column
    to NULL, which its NOT NULL constraint rejects: an error inside the statement, so
    that, in the CTE of a follower's save, the events are not recorded either.
    """

    def __init__(self, tables: TableNames, name: str) -> None:
        self.table = tables.identifier(name)
        self.upsert = _render(
            "INSERT INTO {table} AS t (application_name, notification_id) "
            "VALUES (%(leader)s, %(position)s) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = "
            "CASE WHEN t.notification_id < %(first)s "
            "THEN EXCLUDED.notification_id END",
            table=self.table,
        )
        self.select = Statement(
            _render(
                "SELECT notification_id FROM {table} WHERE application_name = %(leader)s",
                table=self.table,
            )
        )
        self.delete = _render(
            "DELETE FROM {table} WHERE application_name = %(leader)s", table=self.table
        )


class NotificationLog(EventTable):
    """The SQL of the events table as the application's notification log."""

    def __init__(
        self,
        tables: TableNames,
        tracking: str | None = None,
        id_type: IdType = "uuid",
        id_key: str = KEY,
    ) -> None:
        super().__init__(tables, tables.events, id_type, id_key)
        names = {
            "table": self.table,
            "schema": sql.Identifier(tables.schema),
            "sequence": sql.Literal(tables.qualified(tables.sequence)),
            "id_type": sql.SQL(id_type),
        }
        self.channel = tables.channel
        allocate = "{schema}.retell_allocate_ids({sequence}::regclass, %(n)s)"
        # One id: the function's lock and nextval inline, a tenth less of the server's
        # time for the insert. The lock is the output of the inner query, which
        # PostgreSQL runs before the outer one's nextval (it does not flatten a
        # subquery that calls a volatile function).
        one_id = (
            "(SELECT pg_catalog.nextval({sequence}::regclass) FROM (SELECT "
            + mark_in_flight("{sequence}::regclass")
            + ") AS in_flight)"
        )
        insert = "INSERT INTO {table} (notification_id, " + _COLUMNS + ") "
        self.insert = _render(
            insert + "SELECT * FROM unnest(" + allocate + ", " + _ARRAYS + ") "
            "RETURNING notification_id",
            **names,
        )
        self.insert_one = Statement(
            _render(
                insert + "VALUES (" + one_id + ", %(id)s, %(version)s, %(topic)s, "
                "%(state)b) RETURNING notification_id",
                **names,
            )
        )
        self.tracking = None if tracking is None else TrackingTable(tables, tracking)
        if self.tracking is not None:
            cte = "WITH tracked AS (" + self.tracking.upsert + ") "
            self.insert_tracked = cte + self.insert
            self.insert_one_tracked = Statement(cte + self.insert_one.query)
        self.horizon = Statement(
            _render(
                "SELECT {schema}.retell_settled_horizon({sequence}::regclass), " + INCARNATION,
                **names,
            )
        )
        select = (
            "SELECT " + _COLUMNS + ", notification_id FROM {table} "
            "WHERE notification_id >= %(first)s AND notification_id < %(upper)s"
        )
        order = " ORDER BY notification_id LIMIT %(limit)s"
        self.select_notifications = Statement(_render(select + order, **names))
        self.select_notifications_of_topics = Statement(
            _render(select + " AND topic = ANY(%(topics)s::text[])" + order, **names)
        )
        self.find = _render(
            "SELECT " + _COLUMNS + ", notification_id FROM {table} "
            "WHERE (originator_id, originator_version) IN "
            "(SELECT * FROM unnest(%(ids)s::{id_type}[], %(versions)s::integer[]))",
            **names,
        )
        self.max_id = Statement(
            _render(
                "SELECT max(notification_id) FROM {table} WHERE notification_id < %(upper)s",
                **names,
            )
        )


def _event_arrays(events: Sequence[StoredEvent]) -> dict[str, Any]:
    return {
        "n": len(events),
        "ids": [e.originator_id for e in events],
        "versions": [e.originator_version for e in events],
        "topics": [e.topic for e in events],
        "states": [e.state for e in events],
    }


def insert_events(cursor: Cursor, table: EventTable, events: Sequence[StoredEvent]) -> None:
    """Insert events that have no log position (snapshots), in one statement."""
    if events:
        table.check_ids(events)
        cursor.execute(table.insert, _event_arrays(events), prepare=True)


def insert_notifications(
    cursor: Cursor,
    log: NotificationLog,
    events: Sequence[StoredEvent],
    tracking: Tracking | None = None,
) -> list[int]:
    """Insert events into the log (and advance `tracking`), in one statement; their ids.

    The ids are in the order of `events`: they are allocated in ascending order and
    paired with the events by position.
    """
    if not events:
        if tracking is not None:
            assert log.tracking is not None, "this log has no tracking table"
            insert_tracking(cursor, log.tracking, tracking)
        return []
    log.check_ids(events)
    one = len(events) == 1
    if one:
        event = events[0]
        params: dict[str, Any] = {
            "id": event.originator_id,
            "version": event.originator_version,
            "topic": event.topic,
            "state": event.state,
        }
    else:
        params = _event_arrays(events)
    if tracking is not None:
        params["leader"] = tracking.application_name
        params["position"] = tracking.notification_id
        params["first"] = tracking.first
    if one:
        statement = log.insert_one if tracking is None else log.insert_one_tracked
        return [_run(cursor, statement, params)[0][0]]
    cursor.row_factory = tuple_row
    cursor.execute(log.insert if tracking is None else log.insert_tracked, params, prepare=True)
    return sorted(row[0] for row in cursor.fetchall())


def recorded_notifications(
    cursor: Cursor,
    log: NotificationLog,
    events: Sequence[StoredEvent],
    tracking: Tracking | None = None,
) -> list[int] | None:
    """The ids of `events` if a save of exactly these is recorded, else None.

    For a save whose connection was lost: a save is one statement, so it is recorded
    whole or not at all, and if the same versions hold other events, another writer
    took them and this save did not commit.
    """
    if not events:
        assert tracking is not None and log.tracking is not None
        position = max_tracking_id(cursor, log.tracking, tracking.application_name)
        return [] if position is not None and position >= tracking.notification_id else None
    log.check_ids(events)
    cursor.row_factory = tuple_row
    params = {
        "ids": [e.originator_id for e in events],
        "versions": [e.originator_version for e in events],
    }
    cursor.execute(log.find, params, binary=True)
    rows = cursor.fetchall()
    mine = {(e.originator_id, e.originator_version): (e.topic, e.state) for e in events}
    if len(rows) != len(events) or any(mine.get((r[0], r[1])) != (r[2], r[3]) for r in rows):
        return None
    return sorted(r[4] for r in rows)


def select_events(
    cursor: Cursor,
    table: EventTable,
    originator_id: UUID | str,
    *,
    gt: int | None = None,
    lte: int | None = None,
    desc: bool = False,
    limit: int | None = None,
) -> list[StoredEvent]:
    """An aggregate's events with gt < version <= lte, in version order (or reversed)."""
    if type(originator_id) is not table.id_class:
        table.check_id(originator_id)
    if gt is None and lte is None and limit is None and not desc:  # a whole aggregate
        query = table.select_all
        params: dict[str, Any] = {"id": originator_id}
    else:
        query = table.select(
            gt=gt is not None, lte=lte is not None, desc=desc, limit=limit is not None
        )
        params = {"id": originator_id, "gt": gt, "lte": lte, "limit": limit}
    return [StoredEvent(originator_id, *row) for row in _run(cursor, query, params)]


def settled_horizon(cursor: Cursor, log: NotificationLog) -> tuple[int, str]:
    """The lowest position that may still be taken by a transaction in flight, and the
    server incarnation it holds on (`retell.persistence.horizon`).

    Every position below it is settled: its event is committed, and visible to any
    snapshot taken from now on, or it will never exist. Run the query that relies on
    it as a *later statement*, never in the same snapshot.
    """
    horizon, server = _run(cursor, log.horizon, ())[0]
    return horizon, server


def select_notifications(
    cursor: Cursor,
    log: NotificationLog,
    first: int,
    upper: int,
    limit: int,
    topics: Sequence[str] = (),
) -> list[Notification]:
    """Up to `limit` notifications with first <= id < upper, in order (of `topics`, if any).

    `upper` must be at most a horizon from `settled_horizon`, taken before this call.
    """
    if limit <= 0 or upper <= first:
        return []
    params: dict[str, Any] = {"first": first, "upper": upper, "limit": limit}
    query = log.select_notifications
    if topics:
        query = log.select_notifications_of_topics
        params["topics"] = list(topics)
    return [Notification(*row) for row in _run(cursor, query, params)]


def max_notification_id(cursor: Cursor, log: NotificationLog, upper: int) -> int | None:
    """The highest position below `upper` (a settled horizon), or None."""
    found: int | None = _scalar(cursor, log.max_id, {"upper": upper})
    return found


def insert_tracking(cursor: Cursor, table: TrackingTable, tracking: Tracking) -> None:
    """Record a follower's position in a leader's log; one not moving forward is refused."""
    cursor.execute(
        table.upsert,
        {
            "leader": tracking.application_name,
            "position": tracking.notification_id,
            "first": tracking.first,
        },
        prepare=True,
    )


def max_tracking_id(cursor: Cursor, table: TrackingTable, leader: str) -> int | None:
    """The last position of the leader's log recorded as processed, or None."""
    found: int | None = _scalar(cursor, table.select, {"leader": leader})
    return found


def delete_tracking(cursor: Cursor, table: TrackingTable, leader: str) -> None:
    """Forget the follower's position in the leader's log (to rebuild a view)."""
    cursor.execute(table.delete, {"leader": leader})


def _scalar(cursor: Cursor, statement: Statement, params: dict[str, Any]) -> Any:
    rows = _run(cursor, statement, params)
    return rows[0][0] if rows else None


def _run(cursor: Cursor, statement: Statement, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
    """The statement's rows (tuples), through libpq; through the cursor if a parameter's
    type is one libpq.py does not encode (a subclass of UUID, say)."""
    rows = statements(cursor.connection).execute(statement, params)
    if rows is None:
        cursor.row_factory = tuple_row
        cursor.execute(statement.query, params, prepare=True, binary=True)
        rows = cursor.fetchall()
    return rows


def notify(cursor: Cursor, channels: Sequence[str]) -> None:
    """Wake the listeners of `channels`, in every process: call it after a commit.

    Not in the writer's transaction: PostgreSQL serialises the commits of transactions
    that NOTIFY (a lock held from the queue insert to the end of the commit, WAL flush
    included), which would make writers wait for one another's commits. Here it is a
    transaction of its own with no data, so that lock is held for microseconds.
    """
    if len(channels) == 1:  # the usual case, through libpq
        _run(cursor, _NOTIFY_ONE, (channels[0],))
        return
    cursor.execute(
        "SELECT pg_catalog.pg_notify(c, '') FROM unnest(%s::text[]) AS c", (list(channels),)
    )


_NOTIFY_ONE = Statement("SELECT pg_catalog.pg_notify(%s, '')")
