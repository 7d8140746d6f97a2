"""The SQLite store (``PERSISTENCE_MODULE=retell.sqlite``).

Settings (each may carry the application's prefix, ``DOGSCHOOL_SQLITE_DBNAME``):

- ``SQLITE_DBNAME``: the database file (made if missing), or ``:memory:``.
- ``SQLITE_LOCK_TIMEOUT``: seconds a write waits for another's to end (default 5).
- ``SQLITE_SYNCHRONOUS``: ``NORMAL`` (default: the last commits before a power cut, not
  a crash of the application, may be lost) or ``FULL`` (commits survive power cuts; slower).
- ``CREATE_TABLE``: ``y`` (default) creates missing tables; ``n`` requires them to exist.
- ``ORIGINATOR_ID_TYPE``: ``uuid`` (default: aggregate ids are UUIDs, kept as 16-byte
  BLOBs) or ``text`` (ids are strs, such as ``"dog-fido"``, kept as TEXT). Chosen when
  the tables are made; see `retell.persistence.ids`.

Each application has its own tables, named after it (``dogschool_events``,
``dogschool_snapshots``, ``dogschool_tracking``), so many applications can share one
file. Why the log of a file database can be trusted by readers of other processes
is told in `retell.sqlite.database` and docs/stores/sqlite.md.

A projection's view on SQLite subclasses `SQLiteTrackingRecorder` (its tables in
``create_view_statements``, its writes in ``transaction(tracking)``). A follower's
lease is a lock on a file beside the database, so workers in several processes on
one machine share the followers out.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TypeVar, cast

from retell.config import Environment
from retell.persistence.factory import InfrastructureFactory, Purpose, T
from retell.persistence.leases import FileLease, Lease
from retell.persistence.recorders import TrackingRecorder
from retell.sqlite import settings as _settings
from retell.sqlite.database import SQLiteDatabase
from retell.sqlite.recorders import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteProcessRecorder,
    SQLiteTrackingRecorder,
)
from retell.sqlite.schema import SCHEMA_VERSION, Table, prepare_tables, schema_version
from retell.sqlite.settings import SQLiteSettings, TableNames

__all__ = [
    "SCHEMA_VERSION",
    "Factory",
    "SQLiteAggregateRecorder",
    "SQLiteApplicationRecorder",
    "SQLiteDatabase",
    "SQLiteFactory",
    "SQLiteProcessRecorder",
    "SQLiteSettings",
    "SQLiteTrackingRecorder",
    "TableNames",
    "schema_version",
]

R = TypeVar("R", bound=SQLiteAggregateRecorder | SQLiteTrackingRecorder)


class Factory(InfrastructureFactory):
    """Makes SQLite recorders that share one database (connections, write lock).

    The settings are checked when the factory is made; the database is opened, and
    the tables made, when the first recorder is.
    """

    # The keys it reads, as in the eventsourcing library (see InfrastructureFactory).
    SQLITE_DBNAME = _settings.SQLITE_DBNAME
    SQLITE_LOCK_TIMEOUT = _settings.SQLITE_LOCK_TIMEOUT
    SQLITE_SYNCHRONOUS = _settings.SQLITE_SYNCHRONOUS

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        self.settings = SQLiteSettings.from_env(env)
        self._database: SQLiteDatabase | None = None
        self._lock = threading.Lock()

    def aggregate_recorder(self, purpose: Purpose = "events") -> SQLiteAggregateRecorder:
        tables, id_type = self.settings.tables, self.settings.originator_id_type
        if purpose == "snapshots":
            table = Table.snapshots(tables.snapshots, id_type)
        else:
            table = Table.events(tables.events, id_type)
        return self._recorder(SQLiteAggregateRecorder, [table], events_table=table.name)

    def application_recorder(self) -> SQLiteApplicationRecorder:
        events = self.settings.tables.events
        table = Table.events(events, self.settings.originator_id_type)
        return self._recorder(SQLiteApplicationRecorder, [table], events_table=events)

    def tracking_recorder(self, recorder_class: type[T] | None = None) -> T | TrackingRecorder:
        """A tracking recorder, or a view: an instance of `recorder_class`, with its tables."""
        cls = SQLiteTrackingRecorder if recorder_class is None else recorder_class
        self.check_view_class(cls, SQLiteTrackingRecorder)
        view_class = cast(type[SQLiteTrackingRecorder], cls)
        tracking = self.settings.tables.tracking
        return self._recorder(
            view_class,
            [Table.tracking(tracking)],
            view_class.create_view_statements,
            tracking_table=tracking,
        )

    def process_recorder(self) -> SQLiteProcessRecorder:
        tables = self.settings.tables
        return self._recorder(
            SQLiteProcessRecorder,
            [
                Table.events(tables.events, self.settings.originator_id_type),
                Table.tracking(tables.tracking),
            ],
            events_table=tables.events,
            tracking_table=tables.tracking,
        )

    def _recorder(
        self,
        cls: type[R],
        tables: Sequence[Table],
        view_statements: Sequence[str] = (),
        **table_names: str,
    ) -> R:
        """A recorder of `cls` on the factory's database, once its tables are ready."""
        database = self._open()
        database.attach()  # so that a failure below closes a database no one else uses
        try:
            create = self.settings.create_table
            prepare_tables(database, tables, create=create, view_statements=view_statements)
            return cls(database, **table_names)
        finally:
            database.detach()

    def _open(self) -> SQLiteDatabase:
        with self._lock:
            if self._database is None or self._database.closed:
                self._database = SQLiteDatabase(self.settings)
            return self._database

    def lease(self, name: str) -> Lease:
        """A lock on a file beside the database: exclusive across this machine's processes."""
        path = self.settings.path
        if path is None:
            return super().lease(name)  # an in-memory database lives in one process
        return FileLease(name, f"{path}.{name.replace(':', '-').replace('/', '-')}.lease")

    def close(self) -> None:
        """Close the database's connections, even if recorders still hold it."""
        with self._lock:
            if self._database is not None:
                self._database.close()


SQLiteFactory = Factory
"""The `eventsourcing` library's name for this store's factory."""
