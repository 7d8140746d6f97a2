"""The PostgreSQL store (``PERSISTENCE_MODULE=retell.postgres``), on psycopg 3.

Settings (each may carry the application's prefix, ``DOGSCHOOL_POSTGRES_DBNAME``):

- ``POSTGRES_DBNAME`` (required), ``POSTGRES_HOST`` (default ``localhost``),
  ``POSTGRES_PORT`` (5432), ``POSTGRES_USER``, ``POSTGRES_PASSWORD``.
- ``POSTGRES_SCHEMA``: the schema of the tables (default ``public``; made if missing).
- ``POSTGRES_POOL_SIZE``: connections in the application's pool (default 5).
- ``POSTGRES_CONNECT_TIMEOUT``: seconds to wait for a connection (default 5; whole
  seconds, at least 2, as libpq waits).
- ``POSTGRES_RESPONSE_TIMEOUT``: seconds a call waits for the server's answer on an
  open connection (default: the statement timeout + 5).
- ``POSTGRES_LOCK_TIMEOUT``, ``POSTGRES_STATEMENT_TIMEOUT``,
  ``POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT``: seconds (defaults 5, 60, 10; 0
  turns one off), so that a stuck lock or statement is an error, not a hang.
- ``CREATE_TABLE``: ``y`` (default) creates missing tables; ``n`` requires them.
- ``ORIGINATOR_ID_TYPE``: ``uuid`` (default: aggregate ids are UUIDs, in a ``uuid``
  column) or ``text`` (ids are strs, such as ``"dog-fido"``, in a ``text`` column).
  Chosen when the tables are made; see `retell.persistence.ids`.

Each application has its own tables, named after it (``dogschool_events``,
``dogschool_snapshots``, ``dogschool_tracking``, and the sequence
``dogschool_notification_ids``). How writers commit concurrently while readers of the
log never miss an event is told in `retell.postgres.schema` and docs/global-log.md.

The SQL and the write/read protocol (`retell.postgres.protocol`) take a psycopg
connection and run in whatever transaction it is in, so the Django store runs the
same protocol inside the caller's ``transaction.atomic()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from retell.config import Environment
from retell.persistence.factory import InfrastructureFactory, Purpose, T
from retell.persistence.ids import KEY, IdType
from retell.persistence.leases import Lease
from retell.persistence.recorders import TrackingRecorder
from retell.postgres import settings as _settings
from retell.postgres.datastore import PostgresDatastore
from retell.postgres.lease import PostgresLease
from retell.postgres.names import TableNames
from retell.postgres.protocol import EventTable, NotificationLog, TrackingTable
from retell.postgres.recorders import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from retell.postgres.schema import SCHEMA_VERSION, Kind, prepare_schema
from retell.postgres.settings import PostgresSettings

__all__ = [
    "SCHEMA_VERSION",
    "EventTable",
    "Factory",
    "NotificationLog",
    "PostgresAggregateRecorder",
    "PostgresApplicationRecorder",
    "PostgresDatastore",
    "PostgresFactory",
    "PostgresLease",
    "PostgresProcessRecorder",
    "PostgresSettings",
    "PostgresTrackingRecorder",
    "TableNames",
    "TrackingTable",
]

R = TypeVar("R")


class Factory(InfrastructureFactory):
    """Makes PostgreSQL recorders that share one pool of connections and one listener.

    The settings are checked when the factory is made; the pool is opened, and the
    tables made, when the first recorder is.
    """

    # The keys it reads, as in the eventsourcing library (see InfrastructureFactory).
    POSTGRES_DBNAME = _settings.POSTGRES_DBNAME
    POSTGRES_HOST = _settings.POSTGRES_HOST
    POSTGRES_PORT = _settings.POSTGRES_PORT
    POSTGRES_USER = _settings.POSTGRES_USER
    POSTGRES_PASSWORD = _settings.POSTGRES_PASSWORD
    POSTGRES_SCHEMA = _settings.POSTGRES_SCHEMA
    POSTGRES_CONNECT_TIMEOUT = _settings.POSTGRES_CONNECT_TIMEOUT
    POSTGRES_LOCK_TIMEOUT = _settings.POSTGRES_LOCK_TIMEOUT
    POSTGRES_POOL_SIZE = _settings.POSTGRES_POOL_SIZE
    POSTGRES_STATEMENT_TIMEOUT = _settings.POSTGRES_STATEMENT_TIMEOUT
    POSTGRES_RESPONSE_TIMEOUT = _settings.POSTGRES_RESPONSE_TIMEOUT
    POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT = (
        _settings.POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT
    )

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        self.settings = PostgresSettings.from_env(env)
        self._datastore: PostgresDatastore | None = None
        self._lock = threading.Lock()

    @property
    def tables(self) -> TableNames:
        return self.settings.tables

    def aggregate_recorder(self, purpose: Purpose = "events") -> PostgresAggregateRecorder:
        if purpose == "snapshots":
            table = EventTable(self.tables, self.tables.snapshots, *self._ids())
            return self._recorder(["snapshots"], lambda d: PostgresAggregateRecorder(d, table))
        return self.application_recorder()

    def application_recorder(self) -> PostgresApplicationRecorder:
        log = NotificationLog(self.tables, None, *self._ids())
        return self._recorder(["events"], lambda d: PostgresApplicationRecorder(d, log))

    def _ids(self) -> tuple[IdType, str]:
        """The id type, and its key as the user set it (for messages)."""
        return self.settings.originator_id_type, self.settings.describe(KEY)

    def tracking_recorder(self, recorder_class: type[T] | None = None) -> T | TrackingRecorder:
        """A tracking recorder, or a view: an instance of `recorder_class`, with its tables."""
        cls = PostgresTrackingRecorder if recorder_class is None else recorder_class
        self.check_view_class(cls, PostgresTrackingRecorder)
        view_class = cast(type[PostgresTrackingRecorder], cls)
        table = TrackingTable(self.tables, self.tables.tracking)
        return self._recorder(
            ["tracking"],
            lambda d: view_class(d, table),
            view_class.create_view_statements,
        )

    def process_recorder(self) -> PostgresProcessRecorder:
        log = NotificationLog(self.tables, self.tables.tracking, *self._ids())
        return self._recorder(["events", "tracking"], lambda d: PostgresProcessRecorder(d, log))

    def lease(self, name: str) -> Lease:
        """A lease held by a session advisory lock: it ends when its holder's session does."""
        return PostgresLease(name, self.tables.schema, self._open().connect)

    def _recorder(
        self,
        kinds: Sequence[Kind],
        make: Callable[[PostgresDatastore], R],
        view_statements: Sequence[str] = (),
    ) -> R:
        """A recorder on the factory's datastore, once the tables it needs are ready."""
        datastore = self._open()
        datastore.attach()  # so that a failure below closes a datastore no one else uses
        try:
            settings = self.settings
            datastore.write(
                lambda c: prepare_schema(
                    c.connection,
                    settings.tables,
                    kinds,
                    create=settings.create_table,
                    create_key=settings.describe("CREATE_TABLE"),
                    view_statements=view_statements,
                    id_type=settings.originator_id_type,
                    id_key=settings.describe(KEY),
                )
            )
            return make(datastore)
        finally:
            datastore.detach()

    def _open(self) -> PostgresDatastore:
        with self._lock:
            if self._datastore is None or self._datastore.closed:
                self._datastore = PostgresDatastore(self.settings)
            return self._datastore

    def close(self) -> None:
        """Close the connections and the listener, even if recorders still hold them."""
        with self._lock:
            if self._datastore is not None:
                self._datastore.close()


PostgresFactory = Factory
"""The `eventsourcing` library's name for this store's factory."""
