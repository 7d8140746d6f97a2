"""One ``DATABASES`` alias as the recorders use it: Django's connection, transactions, errors.

Why through Django's connection, not one of our own: a save inside the caller's
``transaction.atomic(using=alias)`` must commit or roll back with the caller's ORM
writes, and only the caller's connection is in that transaction. Django keeps one
connection per thread per alias, so recorders are thread-safe as Django is.

A write is ``transaction.atomic(using=alias)``: its own transaction outside the
caller's, a savepoint inside it (so a `ConcurrencyError` leaves the caller's
transaction usable). Never ``durable=True``, which would refuse to join.

The statements every command runs (`prepared`: an aggregate's events, a log insert)
may take the dialect's `prepared_cursor` instead of Django's cursor: the same
connection, so the same transaction, without Django's per-statement costs. Not while
Django watches statements (``DEBUG``, ``connection.execute_wrapper()``,
``CaptureQueriesContext``), which only Django's cursor reports to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django import db
from django.db import connections, transaction
from django.utils.connection import ConnectionDoesNotExist

from retell.django import tables
from retell.django.conf import unknown_alias
from retell.django.dialects import Dialect, dialect_for
from retell.django.errors import translate
from retell.errors import ProgrammingError


class Database:
    """The alias `alias`; its dialect is found on first use (needs no table)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._dialect: Dialect | None = None
        self.errors = _Errors(alias)
        """A context in which Django's database errors are raised as retell's."""
        self._schema_checked = False

    @property
    def connection(self) -> Any:
        """This thread's Django connection for the alias."""
        try:
            return connections[self.alias]
        except ConnectionDoesNotExist:
            # An alias the factory let through while Django loaded the apps.
            raise unknown_alias(self.alias) from None

    @property
    def dialect(self) -> Dialect:
        if self._dialect is None:
            self._dialect = dialect_for(self.connection)
        return self._dialect

    @contextlib.contextmanager
    def write(self, one_statement: bool = False, prepared: bool = False) -> Iterator[Any]:
        """A cursor in a transaction (or savepoint) that commits when the block ends.

        With `one_statement` (the caller runs a single statement), outside a caller's
        ``atomic()`` and in autocommit, the statement runs as its own transaction: the
        same all-or-nothing, without the BEGIN and COMMIT round trips around it.
        """
        with self.errors:
            connection = self._heal()
            if not self._schema_checked:
                self._check_schema(connection)
            if one_statement and not connection.in_atomic_block and connection.get_autocommit():
                with self._cursor(connection, prepared) as cursor:
                    yield cursor
                return
            with transaction.atomic(using=self.alias), self._cursor(connection, prepared) as cursor:
                yield cursor

    @contextlib.contextmanager
    def read(self, prepared: bool = False) -> Iterator[Any]:
        """A cursor in the caller's transaction, or in autocommit mode: one snapshot a statement."""
        with self.errors:
            connection = self._heal()
            if not self._schema_checked:
                self._check_schema(connection)
            with self._cursor(connection, prepared) as cursor:
                yield cursor

    def _check_schema(self, connection: Any) -> None:
        """Refuse, before the first statement, an events table whose ids are still a
        UUIDField's (32 hex digits, or a uuid column): migration 0002 has not run.

        Run on such a table, this release would write UUIDs in another form than the
        rows already there, and not find those rows. Missing tables are left to the
        statement's own error, which says to migrate. Once per `Database`.
        """
        introspection = connection.introspection
        with connection.cursor() as cursor:
            if tables.EVENTS not in introspection.table_names(cursor):
                return
            description = introspection.get_table_description(cursor, tables.EVENTS)
        column = next((c for c in description if c.name == "originator_id"), None)
        if column is not None and (
            introspection.get_field_type(column.type_code, column) == "UUIDField"
            or column.display_size == 32  # the hex digits of a UUID
        ):
            raise ProgrammingError(
                f"retell's tables in the database {self.alias!r} keep aggregate ids as "
                "UUIDs (Django's UUIDField): retell's migration 0002_text_originator_ids, "
                f"which makes them text, has not run. Run `python manage.py migrate "
                f"--database={self.alias}` (or call_command('migrate', "
                f"database={self.alias!r}))."
            )
        self._schema_checked = True

    def _cursor(self, connection: Any, prepared: bool) -> Any:
        """Django's cursor, or with `prepared` the dialect's, if it has one and no one watches."""
        if prepared and not (connection.queries_logged or connection.execute_wrappers):
            cursor = self.dialect.prepared_cursor(connection)
            if cursor is not None:
                return cursor
        return connection.cursor()

    def on_commit(self, callback: Any) -> None:
        """Call `callback` once the current transaction commits (now, if there is none)."""
        connection = self.connection
        if not connection.in_atomic_block and connection.get_autocommit():
            callback()  # what Django's on_commit does here, without its lookups
            return
        transaction.on_commit(callback, using=self.alias)

    def _heal(self) -> Any:
        """Drop this thread's connection if an error broke it (a server restart, say); the
        Django connection for the alias.

        Django does this between requests; a worker thread has no requests, and would
        otherwise fail on a dead connection forever. Outside transactions only, and
        only after an error, so it costs nothing on the usual path.
        """
        connection = self.connection
        if connection.errors_occurred and not connection.in_atomic_block:
            if connection.connection is not None and not connection.is_usable():
                connection.close()
            connection.errors_occurred = False
        return connection


class _Errors:
    """Raises Django's database errors as retell's (a class: the generator-based context
    managers of `contextlib` cost several times more, on every statement)."""

    __slots__ = ("alias",)

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, db.Error):
            raise translate(error, self.alias) from error
