"""The Django store's recorders: the interfaces of `retell.persistence.recorders`, on
the tables of `retell.django.models`, through Django's connection for one alias.

Every recorder belongs to one application (`application_name`): it reads and writes
only that application's rows of the shared tables. A tracking recorder's rows are
its own positions in its leaders' logs. Closing a recorder releases nothing:
Django owns the connections.

The id column is text for every application; the application's `IdCodec` (from its
``ORIGINATOR_ID_TYPE``) says whether its ids are UUIDs or strs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from django import db
from django.db import transaction

from retell.django import tables, wakeups
from retell.django.database import Database
from retell.django.dialects.base import UUID_IDS, IdCodec
from retell.errors import ConcurrencyError, IntegrityError, tracking_not_higher
from retell.persistence.horizon import RememberedHorizon
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    Subscription,
    TrackingRecorder,
)
from retell.persistence.records import Notification, StoredEvent, Tracking


class PositionRefused(IntegrityError):
    """A tracking position at or below the recorded one: that event was processed already."""


class DjangoRecorder:
    """The alias and the application a recorder works for."""

    def __init__(self, alias: str, application_name: str) -> None:
        super().__init__()
        self.alias = alias
        self.application_name = application_name
        self.database = Database(alias)

    def transaction(self) -> transaction.Atomic:
        """``transaction.atomic(using=alias)``: for a view's writes and its tracking together."""
        return transaction.atomic(using=self.alias)

    def close(self) -> None:
        """Nothing to release: Django owns the connections."""


class DjangoAggregateRecorder(DjangoRecorder, AggregateRecorder):
    """Events (or snapshots: `table`) by aggregate and version, with ids as `id_codec` says."""

    def __init__(
        self,
        alias: str,
        application_name: str,
        table: str = tables.EVENTS,
        *,
        id_codec: IdCodec = UUID_IDS,
    ) -> None:
        super().__init__(alias, application_name)
        self.table = table
        self.id_codec = id_codec

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        if self.table == tables.EVENTS:
            # Events always get log positions: a reader of this log must be able to trust it.
            with self._writing(stored_events) as cursor:
                self._insert_log(cursor, stored_events)
            return None
        with self._writing(stored_events) as cursor:
            self.database.dialect.insert(
                cursor, self.table, self.application_name, stored_events, self.id_codec
            )
        return None

    def _insert_log(self, cursor: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        dialect = self.database.dialect
        dialect.before_log_write(cursor, self.application_name)
        return dialect.insert_log(
            cursor, self.table, self.application_name, stored_events, self.id_codec
        )

    @contextlib.contextmanager
    def _writing(
        self,
        stored_events: Sequence[StoredEvent],
        one_statement: bool = False,
        prepared: bool = False,
    ) -> Iterator[Any]:
        """A write transaction whose version conflict is a `ConcurrencyError` naming it.

        The ids are checked first, so that an id of the wrong type writes nothing.
        """
        _check_distinct(stored_events)
        self.id_codec.check(stored_events)
        try:
            with self.database.write(one_statement, prepared) as cursor:
                yield cursor
        except (ConcurrencyError, PositionRefused):
            raise
        except IntegrityError as error:
            raise self._conflict(stored_events, error) from error.__cause__

    def _conflict(self, stored_events: Sequence[StoredEvent], error: IntegrityError) -> Exception:
        """Which version was taken, asked after the rollback (of the savepoint, if nested)."""
        try:
            with self.database.read() as cursor:
                for event in stored_events:
                    taken = self.database.dialect.version_taken(
                        cursor,
                        self.table,
                        self.application_name,
                        event.originator_id,
                        event.originator_version,
                        self.id_codec,
                    )
                    if taken:
                        return ConcurrencyError.version_taken(
                            event.originator_id, event.originator_version
                        )
        except Exception:  # the caller's transaction may be unusable: say what we know
            pass
        first = stored_events[0] if stored_events else None
        if first is None:
            return error
        return ConcurrencyError(
            f"aggregate {first.originator_id} (version {first.originator_version}, or another "
            f"event of this save) was changed since it was read: get it again and retry. "
            f"({error})"
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        self.id_codec.param(originator_id)  # the wrong type of id: an error, not an empty list
        with self.database.read(prepared=True) as cursor:
            return self.database.dialect.select_events(
                cursor,
                table=self.table,
                application_name=self.application_name,
                originator_id=originator_id,
                gt=gt,
                lte=lte,
                desc=desc,
                limit=limit,
                id_codec=self.id_codec,
            )


class DjangoApplicationRecorder(DjangoAggregateRecorder, ApplicationRecorder):
    """Events that also form the application's notification log.

    Remembers the highest settled horizon it has seen on the server it reads from
    (PostgreSQL; `retell.persistence.horizon`), so reading a backlog asks for a new
    horizon only when a page comes back short of what was asked, or when the
    connection reached another server incarnation (after a crash or a failover).
    """

    def __init__(self, alias: str, application_name: str, *, id_codec: IdCodec = UUID_IDS) -> None:
        super().__init__(alias, application_name, tables.EVENTS, id_codec=id_codec)
        self._horizon = RememberedHorizon()

    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        one_statement = self.database.dialect.log_write_is_one_statement
        with self._writing(stored_events, one_statement, prepared=True) as cursor:
            ids = self._insert_log(cursor, stored_events)
        if ids:
            self.database.on_commit(self._committed)
        return ids

    def _committed(self) -> None:
        """Wake this recorder's subscriptions, and the log's others in this process
        (`retell.django.wakeups`)."""
        self.notify_subscribers()
        wakeups.committed(self)

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription:
        wakeups.subscribed(self)
        return super().subscribe(gt, topics)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        first = 1 if start is None else start if inclusive_of_start else start + 1
        if limit <= 0 or (stop is not None and stop < first):
            return []
        end = None if stop is None else stop + 1  # exclusive
        dialect, name = self.database.dialect, self.application_name
        with self.database.read() as cursor:
            connection = self.database.connection.connection
            known = self._horizon.below(connection)
            found: list[Notification] = []
            if first < known:
                below = _lower(end, known)
                found = dialect.select_notifications(
                    cursor,
                    name=name,
                    first=first,
                    end=below,
                    limit=limit,
                    topics=topics,
                    id_codec=self.id_codec,
                )
                if len(found) == limit or (end is not None and end <= known):
                    return found
            answer = dialect.horizon(cursor)  # a statement before the next one's snapshot
            if answer is not None:
                horizon, server = answer
                self._horizon.learn(connection, horizon, server)
                end = _lower(end, horizon)
            first = max(first, known)
            if end is not None and end <= first:
                return found
            return found + dialect.select_notifications(
                cursor,
                name=name,
                first=first,
                end=end,
                limit=limit - len(found),
                topics=topics,
                id_codec=self.id_codec,
            )

    def max_notification_id(self) -> int | None:
        dialect = self.database.dialect
        with self.database.read() as cursor:
            answer = dialect.horizon(cursor)
            horizon = None if answer is None else answer[0]
            return dialect.max_notification_id(cursor, self.application_name, horizon)


class DjangoTrackingRecorder(DjangoRecorder, TrackingRecorder):
    """This application's positions in its leaders' logs, one row per leader.

    A view subclasses it: write the view's models and call `insert_tracking` inside
    ``with self.transaction():``, and both commit together.
    """

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.database.write() as cursor:
            self._record_tracking(cursor, tracking)

    def _record_tracking(self, cursor: Any, tracking: Tracking) -> None:
        leader, position = tracking.application_name, tracking.notification_id
        dialect = self.database.dialect
        try:
            moved = dialect.record_tracking(
                cursor, self.application_name, leader, position, tracking.first
            )
            last = None if moved else self._max(cursor, leader)
        except db.IntegrityError:  # MySQL: another writer inserted the row first
            moved, last = False, None
        if not moved:
            raise PositionRefused(*tracking_not_higher(leader, tracking.first, last).args)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.database.read() as cursor:
            return self._max(cursor, application_name)

    def _max(self, cursor: Any, leader: str) -> int | None:
        cursor.execute(
            f"SELECT notification_id FROM {tables.TRACKING} "
            "WHERE application_name = %s AND upstream_application_name = %s",
            (self.application_name, leader),
        )
        row = cursor.fetchone()
        return None if row is None else int(row[0])

    def delete_tracking(self, application_name: str) -> None:
        with self.database.write() as cursor:
            cursor.execute(
                f"DELETE FROM {tables.TRACKING} "
                "WHERE application_name = %s AND upstream_application_name = %s",
                (self.application_name, application_name),
            )


class DjangoProcessRecorder(DjangoApplicationRecorder, DjangoTrackingRecorder, ProcessRecorder):
    """A follower's new events and its tracking position, in one transaction."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, tracking: Tracking | None = None
    ) -> Sequence[int]:
        with self._writing(stored_events) as cursor:
            if tracking is not None:
                # First: a position processed already fails before any event is written,
                # and on SQLite the transaction's first statement takes the write lock.
                self._record_tracking(cursor, tracking)
            ids = self._insert_log(cursor, stored_events)
        if ids:
            self.database.on_commit(self._committed)
        return ids


def _lower(end: int | None, bound: int) -> int:
    return bound if end is None else min(end, bound)


def _check_distinct(stored_events: Sequence[StoredEvent]) -> None:
    """One version twice in one save is a conflict: say so before touching the database."""
    seen: set[tuple[UUID | str, int]] = set()
    for event in stored_events:
        key = (event.originator_id, event.originator_version)
        if key in seen:
            raise ConcurrencyError.version_taken(event.originator_id, event.originator_version)
        seen.add(key)
