"""PostgreSQL: the in-flight registry of `retell.postgres`, on the Django tables.

The same functions in the database as the PostgreSQL store (made by this app's
migration from `retell.postgres.schema`), so the same proof holds:

- a save allocates its ids with ``retell_allocate_ids(sequence, n)``, which first
  takes a shared, transaction-scoped advisory lock saying "ids from here up may be
  in flight", in the same statement as the insert. Writers never wait for each
  other, and no lock is held across transactions: the caller's ``atomic()`` holds
  the advisory lock only until it ends;
- a reader asks ``retell_settled_horizon(sequence)`` for the position below which
  every transaction is over, then reads below it in a *later statement*, so with a
  snapshot taken after the answer. Read in autocommit or READ COMMITTED (Django's
  default), not REPEATABLE READ.

The sequence is the one behind ``retell_events.id``, shared by every application:
a long transaction that saved holds back the horizon of every log until it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.db.backends.postgresql.psycopg_any import is_psycopg3

from retell.django import tables
from retell.django.dialects.base import UUID_IDS, Dialect, IdCodec
from retell.persistence.horizon import INCARNATION
from retell.persistence.records import StoredEvent

if is_psycopg3:
    import psycopg

    from retell.postgres.libpq import Statement, statements

_INSERT_LOG = (
    f"INSERT INTO {tables.EVENTS} "
    "(id, application_name, originator_id, originator_version, topic, state) "
    "SELECT i, %s, o, v, t, s FROM unnest(retell_allocate_ids(%s::regclass, %s), "
    "%s::text[], %s::bigint[], %s::text[], %s::bytea[]) AS u(i, o, v, t, s) "
    "RETURNING id"
)

# One event (most saves): scalar parameters, which the driver adapts faster than arrays.
_INSERT_ONE = (
    f"INSERT INTO {tables.EVENTS} "
    "(id, application_name, originator_id, originator_version, topic, state) "
    "VALUES ((retell_allocate_ids(%s::regclass, 1))[1], %s, %s, %s, %s, %s) "
    "RETURNING id"
)

_SEQUENCE = f"SELECT pg_catalog.pg_get_serial_sequence('{tables.EVENTS}', 'id')"


class PreparedCursor:
    """Runs retell's statements on Django's psycopg 3 connection, prepared, with values
    bound on the server.

    Django's psycopg backend binds on the client (psycopg quotes every value into the
    SQL text, in Python) and prepares nothing, so the server parses and plans every
    statement anew: for the statements every command runs, over a quarter of a command's
    time (docs/benchmarks.md). This runs them on the same psycopg connection, so in the same
    transaction (or in autocommit, one statement), through libpq (`retell.postgres.libpq`,
    which saves another quarter of the client's time), or where that declines (a parameter
    of a type libpq.py does not encode), on a psycopg cursor, unprepared. It keeps what
    Django's cursor does around a statement: the health check, opening the connection, the
    thread check, refusing to run in a broken ``atomic()``, and wrapping the driver's
    errors in Django's (which marks the connection for ``close_old_connections``).

    psycopg itself prepares nothing here (Django leaves its ``prepare_threshold`` at None):
    a rollback after psycopg prepared sends DEALLOCATE ALL, which would also drop the
    statements libpq prepared, where the caller's next transaction could not prepare them
    again.

    One per psycopg connection, kept for its next statements (`PostgresDialect`), since
    making a cursor costs as much as a tenth of a statement's client time.
    """

    def __init__(self, connection: Any) -> None:
        self.db = connection
        self.raw = connection.connection
        self._cursor = psycopg.Cursor(self.raw)
        self._statements = statements(self.raw)
        self._rows: list[Any] | None = None
        """The rows of the last statement, when libpq ran it (else the cursor has them)."""

    def __enter__(self) -> PreparedCursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Kept open for the connection's next statements."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.db.validate_no_broken_transaction()
        statement = _STATEMENTS.get(sql)
        if statement is None:
            statement = _STATEMENTS[sql] = Statement(sql)
        with self.db.wrap_database_errors:
            self._rows = self._statements.execute(statement, params)
            if self._rows is None:
                self._cursor.execute(sql, params, prepare=False)  # see the class's docstring

    def fetchone(self) -> Any:
        if self._rows is None:
            return self._cursor.fetchone()
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Any]:
        if self._rows is None:
            return self._cursor.fetchall()
        rows, self._rows = self._rows, []
        return rows


_STATEMENTS: dict[str, Statement] = {}
"""The statements `PreparedCursor` has run, by SQL text: retell's own, so a handful."""


class PostgresDialect(Dialect):
    log_write_is_one_statement = True  # ids allocated and rows inserted by one INSERT

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._sequence: str | None = None
        options = connection.settings_dict["OPTIONS"]
        opted_out = "prepare_threshold" in options and options["prepare_threshold"] is None
        self._prepares = is_psycopg3 and not opted_out
        self._kept = threading.local()
        """This thread's `PreparedCursor` (Django's connections are per thread)."""

    def prepared_cursor(self, connection: Any) -> PreparedCursor | None:
        """The `PreparedCursor` of this thread's connection, after the checks Django makes
        before a statement; None on psycopg 2, or where ``OPTIONS`` sets
        ``prepare_threshold`` to None: no prepared statements on this database (a pooler
        that cannot keep them, say)."""
        if not self._prepares:
            return None
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        connection.validate_thread_sharing()
        cursor: PreparedCursor | None = getattr(self._kept, "cursor", None)
        if cursor is None or cursor.raw is not connection.connection:  # a new connection
            cursor = self._kept.cursor = PreparedCursor(connection)
        return cursor

    def sequence(self, cursor: Any) -> str:
        """The (schema-qualified) sequence of the events table's ids, found once."""
        if self._sequence is None:
            cursor.execute(_SEQUENCE)
            (self._sequence,) = cursor.fetchone()
        return self._sequence

    def insert_log(
        self,
        cursor: Any,
        table: str,
        application_name: str,
        events: Sequence[StoredEvent],
        id_codec: IdCodec = UUID_IDS,
    ) -> list[int]:
        if not events:
            return []
        if table != tables.EVENTS:
            raise AssertionError(f"{table} is not a log")
        if len(events) == 1:
            (event,) = events
            originator_id = id_codec.param(event.originator_id)
            cursor.execute(
                _INSERT_ONE,
                (
                    self.sequence(cursor),
                    application_name,
                    originator_id,
                    event.originator_version,
                    event.topic,
                    event.state,
                ),
            )
            return [cursor.fetchone()[0]]
        originator_ids = id_codec.params(events)
        cursor.execute(
            _INSERT_LOG,
            (
                application_name,
                self.sequence(cursor),
                len(events),
                originator_ids,
                [e.originator_version for e in events],
                [e.topic for e in events],
                [e.state for e in events],
            ),
        )
        return sorted(row[0] for row in cursor.fetchall())

    def horizon(self, cursor: Any) -> tuple[int, str] | None:
        cursor.execute(
            "SELECT retell_settled_horizon(%s::regclass), " + INCARNATION,
            (self.sequence(cursor),),
        )
        horizon, server = cursor.fetchone()
        return int(horizon), server


def create_functions(schema_editor: Any) -> None:
    """Make the registry's two functions in the schema Django makes tables in.

    The statements are `retell.postgres.schema`'s own, so the Django store and the
    PostgreSQL store run one protocol. ``CREATE OR REPLACE``: harmless where the
    PostgreSQL store made them already, and never dropped (it may use them too).
    """
    from retell.postgres.names import TableNames
    from retell.postgres.schema import FUNCTIONS, schema_objects

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_catalog.current_schema()")
        (schema,) = cursor.fetchone()
    names = TableNames(schema, tables.EVENTS, tables.SNAPSHOTS, tables.TRACKING, "")
    functions = next(o for o in schema_objects(names, ["events"]) if o.name == FUNCTIONS)
    raw = schema_editor.connection.connection
    for statement in functions.create:
        schema_editor.execute(statement.as_string(raw), None)  # no parameters: "%" is modulo
