"""The recorders of the PostgreSQL store: the protocol of `retell.postgres.protocol`,
run on the pooled connections of a `PostgresDatastore`.

A reader remembers the highest settled horizon it has seen on the server it is
connected to (`retell.persistence.horizon`), so reading a backlog page by page costs
one query per page; only a page that ends short of `limit` at the remembered
horizon, or a connection to another server incarnation, asks for a new one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from uuid import UUID

from psycopg.rows import tuple_row

from retell.persistence.horizon import RememberedHorizon
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    Subscription,
    TrackingRecorder,
)
from retell.persistence.records import Notification, StoredEvent, Tracking
from retell.postgres import protocol
from retell.postgres.datastore import Cursor, PostgresDatastore
from retell.postgres.protocol import EventTable, NotificationLog, TrackingTable


class _OnDatastore:
    """Holds the datastore for as long as the recorder is open."""

    _datastore: PostgresDatastore
    _closed = False

    def _attach(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        datastore.attach()

    def close(self) -> None:
        """Let go of the datastore (its connections close when no recorder holds it)."""
        if not self._closed:
            self._closed = True
            self._datastore.detach()


class PostgresAggregateRecorder(_OnDatastore, AggregateRecorder):
    """Events by aggregate and version, in one table (the snapshots table, say)."""

    def __init__(self, datastore: PostgresDatastore, table: EventTable) -> None:
        super().__init__()
        self._table = table
        self._attach(datastore)

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        table = self._table
        self._datastore.write(lambda c: protocol.insert_events(c, table, stored_events))
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        table = self._table
        return self._datastore.read(
            lambda c: protocol.select_events(
                c, table, originator_id, gt=gt, lte=lte, desc=desc, limit=limit
            )
        )


class PostgresApplicationRecorder(PostgresAggregateRecorder, ApplicationRecorder):
    """Events that also form the application's notification log."""

    def __init__(self, datastore: PostgresDatastore, log: NotificationLog) -> None:
        super().__init__(datastore, log)
        self._log = log
        self._settled = RememberedHorizon()

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        return self._insert(stored_events, None)

    def _insert(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        if not stored_events and tracking is None:
            return []
        log = self._log
        ids = self._datastore.write(
            lambda c: protocol.insert_notifications(c, log, stored_events, tracking),
            recover=lambda c: protocol.recorded_notifications(c, log, stored_events, tracking),
        )
        if ids:
            self.notify_subscribers()
            self._datastore.listener.announce(log.channel)
        return ids

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        first = 1 if start is None else start + (0 if inclusive_of_start else 1)
        first = max(first, 1)
        end = None if stop is None else stop + 1
        if limit <= 0 or (end is not None and end <= first):
            return []
        return self._datastore.read(lambda c: self._select(c, first, end, limit, topics))

    def _select(
        self, cursor: Cursor, first: int, end: int | None, limit: int, topics: Sequence[str]
    ) -> list[Notification]:
        """Read below the remembered horizon; ask for a new one only where that falls short."""
        horizon = self._settled.below(cursor.connection)
        refreshed = first >= horizon
        if refreshed:
            horizon = self._refresh(cursor)
        upper = horizon if end is None else min(horizon, end)
        page = protocol.select_notifications(cursor, self._log, first, upper, limit, topics)
        if refreshed or len(page) >= limit or upper == end:
            return page
        newer = self._refresh(cursor)
        if newer > horizon:
            more_upper = newer if end is None else min(newer, end)
            page += protocol.select_notifications(
                cursor, self._log, upper, more_upper, limit - len(page), topics
            )
        return page

    def _refresh(self, cursor: Cursor) -> int:
        horizon, server = protocol.settled_horizon(cursor, self._log)
        self._settled.learn(cursor.connection, horizon, server)
        return horizon

    def max_notification_id(self) -> int | None:
        def action(cursor: Cursor) -> int | None:
            horizon = self._refresh(cursor)
            return protocol.max_notification_id(cursor, self._log, horizon)

        return self._datastore.read(action)

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription:
        """Follow the log; woken by this process's saves and by other processes' (LISTEN)."""
        self._datastore.listener.listen(self._log.channel, self.notify_subscribers)
        return super().subscribe(gt, topics)


class _TrackingMethods(TrackingRecorder):
    """Tracking through `self._tracking` on `self._datastore`, for both recorders below."""

    _datastore: PostgresDatastore
    _tracking: TrackingTable

    def insert_tracking(self, tracking: Tracking) -> None:
        table = self._tracking
        self._datastore.write(lambda c: protocol.insert_tracking(c, table, tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        table = self._tracking
        return self._datastore.read(lambda c: protocol.max_tracking_id(c, table, application_name))

    def delete_tracking(self, application_name: str) -> None:
        table = self._tracking
        self._datastore.write(lambda c: protocol.delete_tracking(c, table, application_name))


class PostgresTrackingRecorder(_OnDatastore, _TrackingMethods):
    """A follower's positions in its leaders' logs, one row per leader.

    Also the base of a view (see `retell.projection`): a subclass lists the statements
    that create its tables in `create_view_statements` (made in POSTGRES_SCHEMA, which
    is first on the connections' search path), writes in `transaction(tracking)`, and
    reads with `read(query, params)`. Queries use psycopg's ``%s`` placeholders.
    """

    create_view_statements: ClassVar[Sequence[str]] = ()
    """DDL the view needs, run with retell's own when CREATE_TABLE=y (use IF NOT EXISTS)."""

    def __init__(self, datastore: PostgresDatastore, tracking: TrackingTable) -> None:
        super().__init__()
        self._tracking = tracking
        self._attach(datastore)

    @contextmanager
    def transaction(self, tracking: Tracking | None = None) -> Iterator[Cursor]:
        """A transaction that also records `tracking`: both are committed, or neither.

        The position is recorded first, so an event processed already raises
        `IntegrityError` before the body runs; an error in the body undoes both.
        """
        with self._datastore.transaction() as cursor:
            if tracking is not None:
                protocol.insert_tracking(cursor, self._tracking, tracking)
            yield cursor

    def read(self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """The rows of one query (in autocommit mode: its own snapshot)."""

        def action(cursor: Cursor) -> list[Any]:
            cursor.row_factory = tuple_row
            cursor.execute(query.encode(), params)
            return cursor.fetchall()

        return self._datastore.read(action)


class PostgresProcessRecorder(PostgresApplicationRecorder, _TrackingMethods, ProcessRecorder):
    """A follower's events and its tracking position, recorded in one statement."""

    def __init__(self, datastore: PostgresDatastore, log: NotificationLog) -> None:
        super().__init__(datastore, log)
        assert log.tracking is not None, "a process recorder needs a log with a tracking table"
        self._tracking = log.tracking

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, tracking: Tracking | None = None
    ) -> Sequence[int]:
        return self._insert(stored_events, tracking)
