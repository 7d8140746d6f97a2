"""The tables: how each is made, and the record of which schema version it has.

Every table retell makes gets a row in ``retell_schema_versions`` (table name, version),
written in the transaction that creates the table. A later release that changes a
table reads the row to know what to migrate from; this release refuses a table that a
newer release has migrated, instead of misreading it.

Creation is idempotent (``CREATE TABLE IF NOT EXISTS`` inside ``BEGIN IMMEDIATE``), so
any number of processes may start at once on one file.

The id column of events and snapshots is a BLOB of a UUID's 16 bytes, or TEXT for str
ids (``ORIGINATOR_ID_TYPE=text``). A table made for the other type is refused when a
recorder is made: SQLite would store a str in a BLOB column without a word, and reads
could not give back what was saved.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from retell.errors import NotSupportedError
from retell.persistence.ids import KEY, IdType, table_of_other_type
from retell.sqlite.database import SQLiteDatabase
from retell.sqlite.errors import missing_table

SCHEMA_VERSION = 1
VERSIONS_TABLE = "retell_schema_versions"

_VERSIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} ("
    "table_name TEXT PRIMARY KEY, "
    "version INTEGER NOT NULL"
    ") WITHOUT ROWID"
)

# The rowid is the notification id. AUTOINCREMENT: an id is never given out twice, not
# even after the newest event was deleted, so a reader's position stays trustworthy.
_EVENTS_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    "notification_id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "originator_id {id_column} NOT NULL, "
    "originator_version INTEGER NOT NULL, "
    "topic TEXT NOT NULL, "
    "state BLOB NOT NULL, "
    "UNIQUE (originator_id, originator_version)"
    ")"
)

# Snapshots have no log position: the aggregate's key is the table's own order.
_SNAPSHOTS_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    "originator_id {id_column} NOT NULL, "
    "originator_version INTEGER NOT NULL, "
    "topic TEXT NOT NULL, "
    "state BLOB NOT NULL, "
    "PRIMARY KEY (originator_id, originator_version)"
    ") WITHOUT ROWID"
)

_TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    "application_name TEXT PRIMARY KEY, "
    "notification_id INTEGER NOT NULL"
    ") WITHOUT ROWID"
)


ID_COLUMNS: dict[IdType, str] = {"uuid": "BLOB", "text": "TEXT"}
"""The declared type of the id column, by ``ORIGINATOR_ID_TYPE``."""


class Table(NamedTuple):
    """A table's name, the statement that creates it, and its id type (if it has ids)."""

    name: str
    ddl: str
    id_type: IdType | None = None

    @classmethod
    def events(cls, name: str, id_type: IdType = "uuid") -> Table:
        return cls(name, _EVENTS_DDL.format(table=name, id_column=ID_COLUMNS[id_type]), id_type)

    @classmethod
    def snapshots(cls, name: str, id_type: IdType = "uuid") -> Table:
        ddl = _SNAPSHOTS_DDL.format(table=name, id_column=ID_COLUMNS[id_type])
        return cls(name, ddl, id_type)

    @classmethod
    def tracking(cls, name: str) -> Table:
        return cls(name, _TRACKING_DDL.format(table=name))


def prepare_tables(
    database: SQLiteDatabase,
    tables: Sequence[Table],
    *,
    create: bool,
    view_statements: Sequence[str] = (),
) -> None:
    """Create the tables that are missing (or, if not `create`, insist that they exist).

    Tables that exist already cost one read, not a write transaction, so starting an
    application never waits for another's save. `view_statements` (a view's own DDL,
    whose versions are its author's business) run too, in the same transaction.
    """
    existing = _id_columns(database)
    missing = [table for table in tables if table.name not in existing]
    if not create:
        if missing:
            raise missing_table(missing[0].name, database.settings)
    elif missing or view_statements or VERSIONS_TABLE not in existing:
        with database.transaction() as connection:
            connection.execute(_VERSIONS_DDL)
            for table in tables:
                _create(connection, table)
            for statement in view_statements:
                connection.execute(statement)
    for table in tables:
        _check_version(database, table)
        found = existing.get(table.name)
        if table.id_type is not None and found is not None:
            _check_id_column(database, table, found)


def _check_id_column(database: SQLiteDatabase, table: Table, found: str) -> None:
    """Refuse a table whose id column was made for the other type of id."""
    assert table.id_type is not None
    if found.upper() != ID_COLUMNS[table.id_type]:
        key = database.settings.describe(KEY)
        raise table_of_other_type(
            f"{table.name!r} in {database.settings.dbname!r}", found, table.id_type, key
        )


def _create(connection: sqlite3.Connection, table: Table) -> None:
    connection.execute(table.ddl)
    connection.execute(
        f"INSERT OR IGNORE INTO {VERSIONS_TABLE} (table_name, version) VALUES (?, ?)",
        (table.name, SCHEMA_VERSION),
    )


def _table_names(database: SQLiteDatabase) -> set[str]:
    rows = database.read("SELECT name FROM sqlite_master WHERE type = 'table'", ())
    return {name for (name,) in rows}


def _id_columns(database: SQLiteDatabase) -> dict[str, str | None]:
    """The tables, each with its id column's declared type (None: it has none), in one read."""
    rows = database.read(
        "SELECT m.name, p.type FROM sqlite_master AS m "
        "LEFT JOIN pragma_table_info(m.name) AS p ON p.name = 'originator_id' "
        "WHERE m.type = 'table'",
        (),
    )
    return dict(rows)


def schema_version(database: SQLiteDatabase, table: str) -> int | None:
    """The schema version recorded for `table`; None if there is no record of it."""
    if VERSIONS_TABLE not in _table_names(database):
        return None
    rows = database.read(f"SELECT version FROM {VERSIONS_TABLE} WHERE table_name = ?", (table,))
    return int(rows[0][0]) if rows else None


def _check_version(database: SQLiteDatabase, table: Table) -> None:
    version = schema_version(database, table.name)
    if version is not None and version > SCHEMA_VERSION:
        raise NotSupportedError(
            f"the table {table.name!r} in {database.settings.dbname!r} has schema version "
            f"{version}, made by a newer release of retell than this one (which knows "
            f"version {SCHEMA_VERSION}): upgrade retell."
        )
