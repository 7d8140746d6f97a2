"""Django's database errors as retell's, with messages that say what to do.

Django wraps every driver's exceptions in the DB-API classes of ``django.db``, so
one lookup by name maps them for every database; the message is rewritten where the user can act:
a missing table (run ``migrate`` for this alias) or a missing function (PostgreSQL:
the same migration makes it).
"""

from __future__ import annotations

from django import db

from retell import errors
from retell.django import tables
from retell.errors import PersistenceError, ProgrammingError

_DB_API = frozenset(
    [
        "InterfaceError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
        "DatabaseError",
    ]
)
"""Django's classes have the DB-API names, and so do retell's: the class is found by name."""

_MISSING = (
    "no such table",  # SQLite
    "doesn't exist",  # MySQL, MariaDB (error 1146)
    "does not exist",  # PostgreSQL: relation or function
)


def translate(error: db.Error, alias: str) -> PersistenceError:
    """The retell error for a Django database error on the database `alias`."""
    text = " ".join(str(error).split())
    if _is_missing_schema(text):
        return ProgrammingError(
            f"retell's tables are missing from the database {alias!r} ({text}): run "
            f"`python manage.py migrate --database={alias}` (or "
            f"call_command('migrate', database={alias!r})) to create them."
        )
    name = next((c.__name__ for c in type(error).__mro__ if c.__name__ in _DB_API), None)
    cls: type[PersistenceError] = getattr(errors, name) if name else PersistenceError
    return cls(f"database {alias!r}: {text}")


def _is_missing_schema(text: str) -> bool:
    lowered = text.lower()
    names = (*tables.ALL, "retell_allocate_ids", "retell_settled_horizon")
    return any(m in lowered for m in _MISSING) and any(name in lowered for name in names)
