"""The tables, the sequence and the two functions of the store, and how they are made.

Everything is made on first use (``CREATE_TABLE=y``, the default), in one transaction
that first takes a transaction-scoped advisory lock, so any number of processes may
start at once: the first makes what is missing, the others wait a moment and find it
made. With ``CREATE_TABLE=n`` a missing object is a `ProgrammingError` that names it.

Every table gets a row in ``retell_schema_versions`` (name, version), written in the
transaction that creates it; the functions get one too. A later release that changes
a table reads the row to know what to migrate from, and this release refuses objects
that a newer one has migrated instead of misreading them.

The functions are the in-flight registry of docs/global-log.md:

- ``retell_allocate_ids(sequence, n)`` first takes a *shared*, transaction-scoped
  advisory lock keyed (sequence OID, next id from the sequence), then takes n ids.
  The lock says "ids from this one up may belong to a transaction still in flight";
  PostgreSQL drops it only once the transaction's commit (or rollback) is visible.
  Shared locks never wait for one another, so writers never wait for writers.
- ``retell_settled_horizon(sequence)`` reads the last id handed out, and *then* the
  locks: every id below the lowest lock, and at or below the last id, belongs to a
  transaction that is over. Readers read only below that horizon.

The id column of events and snapshots is ``uuid``, or ``text`` for str ids
(``ORIGINATOR_ID_TYPE=text``), collated "C": compared byte by byte, which is exact
and cheaper than a language's rules. A table made for the other type is refused when
a recorder is made, by the query that finds what exists.

`DDL` below lists the statements for docs and for the Django store's migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from retell.errors import NotSupportedError, ProgrammingError
from retell.persistence.ids import KEY, IdType, table_of_other_type
from retell.postgres.names import TableNames, with_parameters

SCHEMA_VERSION = 1
VERSIONS_TABLE = "retell_schema_versions"
FUNCTIONS = "retell_functions"
"""The name under which the functions' version is recorded."""

DDL_LOCK_KEY = 0x7265_7465_6C6C_4444
"""The advisory lock (one bigint key) that serialises creators of retell's objects."""

Kind = Literal["events", "snapshots", "tracking"]

_VERSIONS = """
CREATE TABLE IF NOT EXISTS {versions} (
    name text PRIMARY KEY,
    version integer NOT NULL
)"""

_EVENTS = """
CREATE TABLE IF NOT EXISTS {table} (
    notification_id bigint NOT NULL,
    originator_id {id_type} NOT NULL,
    originator_version integer NOT NULL,
    topic text NOT NULL,
    state bytea NOT NULL,
    PRIMARY KEY (originator_id, originator_version),
    UNIQUE (notification_id)
)"""

# CACHE 1 matters: a backend that cached ids would hand them out without the sequence
# showing it, and the horizon would run past a transaction still in flight.
_SEQUENCE = """
CREATE SEQUENCE IF NOT EXISTS {sequence} AS bigint CACHE 1 OWNED BY {table}.notification_id"""

# A sequence made for a table that already has events must start after them.
_SEQUENCE_START = """
SELECT pg_catalog.setval({sequence_name}, max(notification_id)) FROM {table}
HAVING max(notification_id) IS NOT NULL"""

_SNAPSHOTS = """
CREATE TABLE IF NOT EXISTS {table} (
    originator_id {id_type} NOT NULL,
    originator_version integer NOT NULL,
    topic text NOT NULL,
    state bytea NOT NULL,
    PRIMARY KEY (originator_id, originator_version)
)"""

_TRACKING = """
CREATE TABLE IF NOT EXISTS {table} (
    application_name text PRIMARY KEY,
    notification_id bigint NOT NULL
)"""


# The lock key: (sequence OID, next id), each as the 32 bits pg_advisory_xact_lock_shared
# takes; pg_locks shows them as classid = the OID, objid = next id mod 2^32, objsubid = 2.
# Only "simple expressions" (no FROM), which PL/pgSQL evaluates without the executor:
# ARRAY(SELECT nextval(...) FROM generate_series(...)) would cost several times more.
def mark_in_flight(seq: str) -> str:
    """The call that marks ids from the next one of sequence `seq` (an expression of type
    regclass) up as in flight: the registry's lock, taken before any id."""
    return (
        f"pg_catalog.pg_advisory_xact_lock_shared(\n        {seq}::oid::bigint::bit(32)::integer,"
        f"\n        (coalesce(pg_catalog.pg_sequence_last_value({seq}), 0) + 1)::bit(32)::integer)"
    )


_ALLOCATE_IDS = (
    """
CREATE OR REPLACE FUNCTION {schema}.retell_allocate_ids(seq regclass, n integer)
RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids bigint[];
BEGIN
    PERFORM """
    + mark_in_flight("seq")
    + """;
    FOR i IN 1..n LOOP
        ids[i] := pg_catalog.nextval(seq);
    END LOOP;
    RETURN ids;
END
$$"""
)

# Order matters: the last id first, the locks after. A writer holds its lock before it
# takes an id, so a writer whose id is at or below `next_id - 1` and that is still in
# flight holds a lock this scan will see. A lock's 32 bits are widened back to the id
# nearest `next_id` with them (writers in flight are never 2^31 ids apart).
_SETTLED_HORIZON = """
CREATE OR REPLACE FUNCTION {schema}.retell_settled_horizon(seq regclass)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    next_id bigint;
    lowest bigint;
BEGIN
    next_id := coalesce(pg_catalog.pg_sequence_last_value(seq), 0) + 1;
    SELECT pg_catalog.min(next_id
               + ((l.objid::bigint - next_id) % 4294967296 + 6442450944) % 4294967296
               - 2147483648)
      INTO lowest
      FROM pg_catalog.pg_locks AS l
     WHERE l.locktype = 'advisory'
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                          WHERE d.datname = pg_catalog.current_database())
       AND l.classid = seq::oid
       AND l.objsubid = 2;
    RETURN LEAST(next_id, lowest);
END
$$"""


@dataclass(frozen=True)
class SchemaObject:
    """One thing the store needs: how to tell it exists, and how to make it."""

    name: str
    """As recorded in the versions table (and named in messages)."""
    exists: sql.Composable
    """An SQL expression that is true when the object exists."""
    create: tuple[sql.Composed, ...]
    what: str
    """What it is, for messages: 'table "s"."x"'."""
    id_type: IdType | None = None
    """The type of its id column, for a table of events or snapshots."""


def schema_objects(
    tables: TableNames, kinds: Sequence[Kind], id_type: IdType = "uuid"
) -> list[SchemaObject]:
    """What recorders of `kinds` need, in the order to make it, with ids of `id_type`."""
    objects: list[SchemaObject] = []
    schema = sql.Identifier(tables.schema)
    for kind in dict.fromkeys(kinds):
        if kind == "events":
            objects.append(_functions(tables, schema))
            objects.append(_events(tables, id_type))
        elif kind == "snapshots":
            objects.append(_table(tables, tables.snapshots, _SNAPSHOTS, id_type))
        else:
            objects.append(_table(tables, tables.tracking, _TRACKING))
    return objects


def _functions(tables: TableNames, schema: sql.Identifier) -> SchemaObject:
    signatures = [
        f"{tables.qualified('retell_allocate_ids')}(regclass,integer)",
        f"{tables.qualified('retell_settled_horizon')}(regclass)",
    ]
    exists = sql.SQL(" AND ").join(
        sql.SQL("pg_catalog.to_regprocedure({}) IS NOT NULL").format(sql.Literal(s))
        for s in signatures
    )
    return SchemaObject(
        FUNCTIONS,
        exists,
        tuple(sql.SQL(t).format(schema=schema) for t in (_ALLOCATE_IDS, _SETTLED_HORIZON)),
        f"functions retell_allocate_ids and retell_settled_horizon in schema {tables.schema!r}",
    )


def _events(tables: TableNames, id_type: IdType) -> SchemaObject:
    table = tables.identifier(tables.events)
    sequence = tables.identifier(tables.sequence)
    exists = sql.SQL(
        "pg_catalog.to_regclass({}) IS NOT NULL AND pg_catalog.to_regclass({}) IS NOT NULL"
    ).format(
        sql.Literal(tables.qualified(tables.events)),
        sql.Literal(tables.qualified(tables.sequence)),
    )
    create = (
        sql.SQL(_EVENTS).format(table=table, id_type=_id_column(id_type)),
        sql.SQL(_SEQUENCE).format(sequence=sequence, table=table),
        sql.SQL(_SEQUENCE_START).format(
            sequence_name=sql.Literal(tables.qualified(tables.sequence)), table=table
        ),
    )
    return SchemaObject(
        tables.events,
        exists,
        create,
        f"table {tables.qualified(tables.events)} and its sequence",
        id_type,
    )


def _id_column(id_type: IdType) -> sql.SQL:
    """The type of the id column, as its DDL writes it."""
    return sql.SQL('text COLLATE "C"' if id_type == "text" else "uuid")


def _table(
    tables: TableNames, name: str, template: str, id_type: IdType | None = None
) -> SchemaObject:
    exists = sql.SQL("pg_catalog.to_regclass({}) IS NOT NULL").format(
        sql.Literal(tables.qualified(name))
    )
    names: dict[str, sql.Composable] = {"table": tables.identifier(name)}
    if id_type is not None:
        names["id_type"] = _id_column(id_type)
    create = (sql.SQL(template).format(**names),)
    return SchemaObject(name, exists, create, f"table {tables.qualified(name)}", id_type)


def prepare_schema(
    connection: psycopg.Connection[Any],
    tables: TableNames,
    kinds: Sequence[Kind],
    *,
    create: bool,
    create_key: str = "CREATE_TABLE",
    view_statements: Sequence[str] = (),
    id_type: IdType = "uuid",
    id_key: str = KEY,
) -> None:
    """Make sure what recorders of `kinds` need exists, making it if `create` allows.

    `view_statements` (a projection view's DDL, which must be idempotent) run too, in
    the same transaction, whenever `create` is on. `connection` must be in autocommit
    mode, with the schema first on its search path; the creating transaction is its own.
    Tables of events and snapshots that exist must have ids of `id_type`
    (`id_key`, ``ORIGINATOR_ID_TYPE`` as the user set it, is named if not).
    """
    objects = schema_objects(tables, kinds, id_type)
    has_schema, has_versions, present, id_columns = _survey(connection, tables, objects)
    for obj, found in zip(objects, id_columns, strict=True):
        if found is not None and obj.id_type is not None and found != obj.id_type:
            raise table_of_other_type(tables.qualified(obj.name), found, obj.id_type, id_key)
    missing = [o for o, there in zip(objects, present, strict=True) if not there]
    if has_versions and not missing:
        _check_versions(connection, tables, [o.name for o in objects])
        if not (create and view_statements):
            return
    elif not create:
        raise _missing_error(tables, has_schema, missing or objects, create_key)
    with connection.transaction():
        connection.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
        if not has_schema:
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(tables.schema))
            )
        versions = tables.identifier(VERSIONS_TABLE)
        connection.execute(sql.SQL(_VERSIONS).format(versions=versions))  # (no parameters)
        for obj in missing:
            for statement in obj.create:
                connection.execute(statement)
        for view_statement in view_statements:  # (bytes: SQL text from the view's author)
            connection.execute(view_statement.encode())
        connection.execute(
            sql.SQL(
                "INSERT INTO {} (name, version) SELECT unnest(%s::text[]), %s "
                "ON CONFLICT (name) DO NOTHING"
            ).format(with_parameters(versions)),
            ([o.name for o in objects], SCHEMA_VERSION),
        )
    _check_versions(connection, tables, [o.name for o in objects])


def _survey(
    connection: psycopg.Connection[Any], tables: TableNames, objects: Sequence[SchemaObject]
) -> tuple[bool, bool, list[bool], list[str | None]]:
    """One query: does the schema exist, the versions table, and each object? And the
    type of each existing table's id column (None: no such table, or no ids)."""
    query = sql.SQL("SELECT pg_catalog.to_regnamespace({}) IS NOT NULL, {}").format(
        sql.Literal(tables.quoted_schema),
        sql.SQL(", ").join(
            [
                sql.SQL("pg_catalog.to_regclass({}) IS NOT NULL").format(
                    sql.Literal(tables.qualified(VERSIONS_TABLE))
                ),
                *(sql.SQL("({})").format(o.exists) for o in objects),
                *(_id_column_type(tables, o) for o in objects),
            ]
        ),
    )
    row = connection.execute(query).fetchone()
    assert row is not None
    n = len(objects)
    present = [bool(v) for v in row[2 : 2 + n]]
    return bool(row[0]), bool(row[1]), present, list(row[2 + n :])


def _id_column_type(tables: TableNames, obj: SchemaObject) -> sql.Composable:
    """An expression: the type of the object's id column, NULL where there is none."""
    if obj.id_type is None:
        return sql.SQL("NULL::text")
    return sql.SQL(
        "(SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute AS a "
        "WHERE a.attrelid = pg_catalog.to_regclass({}) AND a.attname = 'originator_id' "
        "AND NOT a.attisdropped)"
    ).format(sql.Literal(tables.qualified(obj.name)))


def _check_versions(
    connection: psycopg.Connection[Any], tables: TableNames, names: Sequence[str]
) -> None:
    rows = connection.execute(
        sql.SQL("SELECT name, version FROM {} WHERE name = ANY(%s)").format(
            with_parameters(tables.identifier(VERSIONS_TABLE))
        ),
        (list(names),),
    ).fetchall()
    for name, version in rows:
        if version > SCHEMA_VERSION:
            raise NotSupportedError(
                f"{tables.qualified(name)} has schema version {version}, made by a newer "
                f"release of retell; this one knows versions up to {SCHEMA_VERSION}: "
                "upgrade retell."
            )


def _missing_error(
    tables: TableNames, has_schema: bool, missing: Sequence[SchemaObject], create_key: str
) -> ProgrammingError:
    if not has_schema:
        return ProgrammingError(
            f"the schema {tables.schema!r} does not exist in the database, and {create_key} "
            f"is off: create it (CREATE SCHEMA {sql.Identifier(tables.schema).as_string(None)}) "
            f"and let retell make its tables ({create_key}=y), or set POSTGRES_SCHEMA to a "
            "schema that has them."
        )
    what = "; ".join(o.what for o in missing)
    return ProgrammingError(
        f"missing in the database: {what}. Set {create_key}=y (the default) and retell makes "
        "them on first use."
    )


DDL = (_VERSIONS, _EVENTS, _SEQUENCE, _SNAPSHOTS, _TRACKING, _ALLOCATE_IDS, _SETTLED_HORIZON)
"""The statements, as templates: for documentation and the Django store's migrations."""
