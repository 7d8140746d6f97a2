"""psycopg's exceptions as retell's, with messages that say what to do.

The class follows the DB-API name (``psycopg.OperationalError`` becomes
`retell.errors.OperationalError`, and so on), and the message is rewritten where the
user can act on it: a version taken by another writer (`ConcurrencyError`, naming the
aggregate and version), a tracking position already processed, a lock or statement
timeout (naming the key that sets it), a server that cannot be reached or refuses the
login (naming host, port, database and user, and the keys to check), a host name that
does not resolve, a server that stopped answering on an open connection.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import errors as pg

from retell.errors import (
    ConcurrencyError,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)
from retell.postgres.settings import PostgresSettings

_CLASSES: dict[type[psycopg.Error], type[PersistenceError]] = {
    psycopg.InterfaceError: InterfaceError,
    psycopg.DataError: DataError,
    psycopg.OperationalError: OperationalError,
    psycopg.IntegrityError: IntegrityError,
    psycopg.InternalError: InternalError,
    psycopg.ProgrammingError: ProgrammingError,
    psycopg.NotSupportedError: NotSupportedError,
    psycopg.DatabaseError: DatabaseError,
    psycopg.Error: PersistenceError,
}

_VERSION_TAKEN = re.compile(
    r"Key \(originator_id, originator_version\)=\((?P<id>[^,]+), (?P<version>-?\d+)\)"
)


def translate(error: psycopg.Error, settings: PostgresSettings) -> PersistenceError:
    """The retell error for a psycopg error, saying what went wrong and what to do."""
    if isinstance(error, pg.UniqueViolation):
        return _unique_violation(error)
    if isinstance(error, pg.NotNullViolation) and error.diag.column_name == "notification_id":
        # The tracking upsert's way to refuse a position that does not move forward.
        return IntegrityError(
            f"a tracking position was not recorded in {error.diag.table_name!r}: it is at or "
            "below the last one recorded for that application, so it was processed already."
        )
    if isinstance(error, pg.LockNotAvailable):
        key = settings.describe("POSTGRES_LOCK_TIMEOUT")
        return OperationalError(
            f"a lock was not granted within {key}={settings.lock_timeout} seconds (another "
            f"transaction held it): retry, or set {key} higher ({error})"
        )
    if isinstance(error, pg.QueryCanceled):
        key = settings.describe("POSTGRES_STATEMENT_TIMEOUT")
        return OperationalError(
            f"a statement was cancelled: it ran longer than {key}="
            f"{settings.statement_timeout} seconds, or was cancelled by an administrator. "
            f"Retry, or set {key} higher ({error})"
        )
    if isinstance(error, pg.UndefinedTable | pg.UndefinedFunction | pg.InvalidSchemaName):
        return ProgrammingError(
            f"retell's tables in schema {settings.tables.schema!r} are missing or incomplete "
            f"(were they dropped while the application ran?): construct the application again "
            f"with {settings.describe('CREATE_TABLE')}=y to make them ({error})"
        )
    if isinstance(error, psycopg.OperationalError) and is_connection_failure(error):
        return connection_error(error, settings)
    cls = next(_CLASSES[c] for c in type(error).__mro__ if c in _CLASSES)
    return cls(f"PostgreSQL at {settings.server}, database {settings.dbname!r}: {error}")


def is_connection_failure(error: psycopg.Error) -> bool:
    """Whether the connection failed or was lost (not: the server refused a statement).

    A lost connection has no SQLSTATE; a server shutting down or restarting closes its
    connections with class 57P (admin_shutdown, crash_shutdown, cannot_connect_now);
    class 08 is "connection exception".
    """
    code = error.sqlstate
    return code is None or code.startswith(("08", "57P"))


def _unique_violation(error: pg.UniqueViolation) -> IntegrityError:
    match = _VERSION_TAKEN.search(error.diag.message_detail or "")
    if match is None:
        return IntegrityError(f"{error} ({error.diag.message_detail})")
    return ConcurrencyError(
        f"aggregate {match['id']} already has a version {match['version']}: it was changed "
        "since it was read. Get it again and retry."
    )


def connection_error(error: BaseException, settings: PostgresSettings) -> OperationalError:
    """The error for a connection that could not be made or was lost: where, and what to check."""
    text = str(error)
    where = f"PostgreSQL at {settings.server}"
    if re.search(r'database "[^"]*" does not exist', text):
        advice = (
            f"the database {settings.dbname!r} does not exist there: create it, or check "
            f"{settings.describe('POSTGRES_DBNAME')}"
        )
    elif re.search(r'role "[^"]*" does not exist|authentication failed|password', text):
        advice = (
            f"the server refused the login of user {settings.user or '(default)'!r}: check "
            f"{settings.describe('POSTGRES_USER')} and {settings.describe('POSTGRES_PASSWORD')}"
        )
    elif "failed to resolve host" in text or "could not translate host name" in text:
        # psycopg resolves names itself ("failed to resolve host"), libpq otherwise.
        advice = (
            f"the host name {settings.host!r} could not be resolved to an address (no such "
            f"name, or the name service is not answering): check "
            f"{settings.describe('POSTGRES_HOST')}"
        )
    elif "timeout" in text.lower():
        advice = (
            f"no answer within {settings.describe('POSTGRES_CONNECT_TIMEOUT')}="
            f"{settings.connect_timeout} seconds: check {settings.describe('POSTGRES_HOST')} "
            f"and {settings.describe('POSTGRES_PORT')}, and that the server is up"
        )
    elif "connection failed" in text:
        advice = (
            f"cannot connect: check that the server is running and accepts TCP/IP "
            f"connections, and check {settings.describe('POSTGRES_HOST')} and "
            f"{settings.describe('POSTGRES_PORT')}"
        )
    else:
        advice = "the connection was lost (the server closed it: a restart, an administrator?)"
    return OperationalError(f"{where}: {advice} ({' '.join(text.split())})")


def no_answer(settings: PostgresSettings, write: bool) -> OperationalError:
    """The error for a statement the server did not answer within POSTGRES_RESPONSE_TIMEOUT
    (`retell.postgres.watchdog`), whose connection was closed therefore."""
    key = settings.describe("POSTGRES_RESPONSE_TIMEOUT")
    message = (
        f"PostgreSQL at {settings.server} did not answer within {key}="
        f"{settings.response_timeout} seconds (is the server stopped, overloaded, or cut "
        f"off from this machine?), so the connection was closed. Retry once it answers, "
        f"or set {key} higher if it is only slow."
    )
    if write:
        message += (
            " The write was sent, so it may or may not have been recorded (the server "
            "may still run it when it answers again): read it back to see."
        )
    error = OperationalError(message)
    error.outcome_unknown = write
    return error
