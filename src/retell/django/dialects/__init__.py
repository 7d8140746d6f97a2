"""What differs between databases: how a save gets log positions readers can trust.

- SQLite (`sqlite`): one writer at a time, so row ids are allocated in commit order.
- PostgreSQL (`postgresql`): the in-flight registry of `retell.postgres.schema`;
  writers never wait for one another, readers read below the settled horizon.
- MySQL and MariaDB (`mysql`): writers of one application's log take a row lock
  first, so that they allocate ids and commit one at a time.

`dialect_for` picks one by Django's ``connection.vendor``.
"""

from __future__ import annotations

from typing import Any

from retell.django.dialects.base import Dialect
from retell.errors import NotSupportedError


def dialect_for(connection: Any) -> Dialect:
    """The dialect for a Django connection (a ``BaseDatabaseWrapper``)."""
    vendor = connection.vendor
    if vendor == "sqlite":
        from retell.django.dialects.sqlite import SQLiteDialect

        return SQLiteDialect(connection)
    if vendor == "postgresql":
        from retell.django.dialects.postgresql import PostgresDialect

        return PostgresDialect(connection)
    if vendor == "mysql":
        from retell.django.dialects.mysql import MySQLDialect

        return MySQLDialect(connection)
    raise NotSupportedError(
        f"retell.django supports SQLite, PostgreSQL, MySQL and MariaDB; the database "
        f"{connection.alias!r} is {vendor!r}. Point DJANGO_DB_ALIAS at a supported one."
    )


__all__ = ["Dialect", "dialect_for"]
