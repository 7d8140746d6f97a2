"""sqlite3's exceptions as retell's, with messages that say what to do.

The class follows the DB-API name (``sqlite3.OperationalError`` becomes
`retell.errors.OperationalError`, and so on). The message comes from SQLite's result
code where there is something the user can do about it: a lock held too long, a
file that cannot be opened or is not a database, a missing table.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from retell import errors
from retell.errors import InterfaceError, PersistenceError, ProgrammingError

if TYPE_CHECKING:
    from retell.sqlite.settings import SQLiteSettings


# SQLite's primary result codes (https://www.sqlite.org/rescode.html).
_BUSY, _LOCKED, _READONLY, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 11, 13, 14, 26


def translate(error: sqlite3.Error, settings: SQLiteSettings) -> PersistenceError:
    """The retell error for an sqlite3 error, saying what went wrong and what to do."""
    if isinstance(error, sqlite3.ProgrammingError) and "closed" in str(error):
        return closed(settings)
    if str(error).startswith("no such table"):
        return missing_table(str(error).rpartition(" ")[2], settings)
    return _same_name(error)(f"{_advice(error, settings)} ({error})")


def _same_name(error: sqlite3.Error) -> type[PersistenceError]:
    """retell's error class of the same DB-API name (both follow PEP 249's tree)."""
    for cls in type(error).__mro__:
        found = getattr(errors, cls.__name__, None)
        if isinstance(found, type) and issubclass(found, PersistenceError):
            return found
    return PersistenceError


def closed(settings: SQLiteSettings) -> InterfaceError:
    """The error for using a database after its application or recorders were closed."""
    return InterfaceError(
        f"the SQLite database {settings.dbname!r} was closed (the application or recorder "
        "was closed): make a new application to use it again."
    )


def missing_table(table: str, settings: SQLiteSettings) -> ProgrammingError:
    """The error for a table that is not there: how to have it made."""
    return ProgrammingError(
        f"the table {table!r} does not exist in the SQLite database {settings.dbname!r}: set "
        f"{settings.describe('CREATE_TABLE')}=y (the default) to have retell create it."
    )


def _advice(error: sqlite3.Error, settings: SQLiteSettings) -> str:
    dbname = settings.dbname
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in (_BUSY, _LOCKED):
        key = settings.describe("SQLITE_LOCK_TIMEOUT")
        return (
            f"the SQLite database {dbname!r} is locked: another connection held its write "
            f"lock for more than {key}={settings.lock_timeout} seconds. Set {key} higher, or "
            "find what keeps a write transaction open that long"
        )
    if code == _CANTOPEN:
        return (
            f"cannot open the SQLite database {dbname!r}: check "
            f"{settings.describe('SQLITE_DBNAME')}, and that its directory exists and is "
            "writable"
        )
    if code == _NOTADB:
        return (
            f"{dbname!r} is not an SQLite database (or is encrypted): check "
            f"{settings.describe('SQLITE_DBNAME')}"
        )
    if code == _CORRUPT:
        return (
            f"the SQLite database {dbname!r} is corrupt: restore it from a backup, or try the "
            "sqlite3 shell's .recover command on a copy"
        )
    if code == _READONLY:
        return (
            f"the SQLite database {dbname!r} is read-only: check the permissions of the file, "
            "of its -wal and -shm files, and of its directory"
        )
    if code == _FULL:
        return f"the disk holding the SQLite database {dbname!r} is full: free some space"
    return f"the SQLite database {dbname!r} reported an error"
