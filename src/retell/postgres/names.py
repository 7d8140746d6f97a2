"""The names of an application's tables, and how they reach SQL safely.

An application's tables are named after it (``dogschool_events``, ``_snapshots``,
``_tracking``, and the sequence ``_notification_ids``) in the schema POSTGRES_SCHEMA.
Names are never pasted into SQL as text: they are quoted as identifiers by
`psycopg.sql.Identifier`, so any application or schema name, however hostile, names a
table and nothing else. What is refused is only what PostgreSQL would silently
change: a name longer than 63 bytes is truncated by the server, which could make two
applications share a table, and a NUL byte cannot be sent at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg import sql

from retell.errors import ConfigurationError

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated, not refused."""

SUFFIXES = ("_events", "_snapshots", "_tracking", "_notification_ids")
_LONGEST_SUFFIX = max(len(s) for s in SUFFIXES)


@dataclass(frozen=True)
class TableNames:
    """The schema and names of one application's tables, as plain strings."""

    schema: str
    events: str
    snapshots: str
    tracking: str
    sequence: str

    @classmethod
    def for_application(
        cls, name: str, schema: str, schema_key: str = "POSTGRES_SCHEMA"
    ) -> TableNames:
        """The names for application `name`, checked to reach PostgreSQL unchanged."""
        check_identifier(schema, schema_key, f"the schema name {schema!r}")
        prefix = name.lower()
        limit = MAX_IDENTIFIER_BYTES - _LONGEST_SUFFIX
        if not prefix or "\x00" in prefix or len(prefix.encode()) > limit:
            raise ConfigurationError(
                f"the application name {name!r} cannot name PostgreSQL tables: it must be "
                f"1 to {limit} bytes long (PostgreSQL truncates longer table names) without "
                "NUL characters. Set `name = ...` on the Application class."
            )
        return cls(schema, *(prefix + suffix for suffix in SUFFIXES))

    def identifier(self, name: str) -> sql.Identifier:
        """``"schema"."name"``: a schema-qualified, quoted identifier."""
        return sql.Identifier(self.schema, name)

    def qualified(self, name: str) -> str:
        """``"schema"."name"`` as text, for a ``regclass`` parameter or a message."""
        return f"{self.quoted_schema}.{_quote(name)}"

    @property
    def quoted_schema(self) -> str:
        """``"schema"``, as text."""
        return _quote(self.schema)

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of the events table: short, and the same in every
        process (a channel name is an identifier too, limited to 63 bytes)."""
        digest = hashlib.sha256(self.qualified(self.events).encode()).hexdigest()
        return f"retell_{digest[:24]}"


def with_parameters(composable: sql.Composable) -> sql.SQL:
    """Quoted SQL text to place in a query that runs *with* parameters.

    psycopg reads ``%`` in such a query as the start of a placeholder, wherever it
    stands, so a name with ``%`` in it (``"50%_off"``) has it doubled. A query that runs
    without parameters is sent as it is, and must not be escaped.
    """
    return sql.SQL(composable.as_string(None).replace("%", "%%"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_identifier(value: str, key: str, what: str) -> None:
    """Refuse an identifier PostgreSQL would truncate or could not receive."""
    if not value or "\x00" in value or len(value.encode()) > MAX_IDENTIFIER_BYTES:
        raise ConfigurationError(
            f"{key}: {what} cannot be used: a PostgreSQL name must be 1 to "
            f"{MAX_IDENTIFIER_BYTES} bytes long, without NUL characters."
        )
