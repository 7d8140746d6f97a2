"""SQLite: one writer at a time, so ids are allocated, and committed, in order.

A write transaction holds SQLite's write lock from its first write to its commit,
and row ids (``AUTOINCREMENT``: never reused) are allocated under it, so a reader
never finds a new row below one it has read. Every transaction the store begins
writes first, so it waits for the lock in SQLite's busy handler (the ``timeout``
option) instead of failing with "database is locked"; docs/django.md says which
settings a project's own transactions need for the same.
"""

from __future__ import annotations

from retell.django.dialects.base import Dialect


class SQLiteDialect(Dialect):
    def ids_from_lastrowid(self, lastrowid: int, count: int) -> list[int]:
        # SQLite reports the last row's id; the batch's ids are consecutive below it.
        return list(range(lastrowid - count + 1, lastrowid + 1))
