"""The SQLite store's settings, read and checked once, when the factory is made.

Checking here means a wrong key fails when the application is constructed, with a
message naming the key, rather than at the first save.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from retell.config import Environment
from retell.errors import ConfigurationError
from retell.persistence.ids import IdType, originator_id_type

# The keys this store reads (also its factory's attributes, as in the eventsourcing library).
SQLITE_DBNAME = "SQLITE_DBNAME"
SQLITE_LOCK_TIMEOUT = "SQLITE_LOCK_TIMEOUT"
SQLITE_SYNCHRONOUS = "SQLITE_SYNCHRONOUS"

DEFAULT_LOCK_TIMEOUT = 5.0
"""Seconds a writer waits for another connection's write transaction to end."""

SYNCHRONOUS_MODES = ("FULL", "NORMAL")

_TABLE_PREFIX = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class SQLiteSettings:
    """What the environment asks of the SQLite store; `describe` names keys in messages."""

    dbname: str
    lock_timeout: float
    create_table: bool
    synchronous: str
    tables: TableNames
    env: Environment
    originator_id_type: IdType = "uuid"
    """``ORIGINATOR_ID_TYPE``: UUID ids in a BLOB column (16 bytes), or str ids in TEXT."""

    @classmethod
    def from_env(cls, env: Environment) -> SQLiteSettings:
        return cls(
            dbname=_dbname(env),
            lock_timeout=env.get_float(SQLITE_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
            create_table=env.get_bool("CREATE_TABLE", True),
            synchronous=_synchronous(env),
            tables=TableNames.for_application(env.name),
            env=env,
            originator_id_type=originator_id_type(env),
        )

    @property
    def is_memory(self) -> bool:
        """Whether the database lives in memory (and so in exactly one connection)."""
        uri = self.dbname.startswith("file:")
        return self.dbname == ":memory:" or (
            uri and ("mode=memory" in self.dbname or self.dbname.startswith("file::memory:"))
        )

    @property
    def path(self) -> str | None:
        """The database file's path (None in memory): what locks and leases are keyed on."""
        if self.is_memory:
            return None
        if self.dbname.startswith("file:"):
            return os.path.realpath(urlsplit(self.dbname).path)
        return os.path.realpath(self.dbname)

    def describe(self, key: str) -> str:
        """The key as the user set it (with the application's prefix, if they used it)."""
        return self.env.describe(key)


@dataclass(frozen=True)
class TableNames:
    """The tables of one application, named after it so applications can share a file."""

    events: str
    snapshots: str
    tracking: str

    @classmethod
    def for_application(cls, name: str) -> TableNames:
        """Names from the application's name, which must be safe to write into SQL."""
        prefix = name.lower()
        if not _TABLE_PREFIX.match(prefix) or prefix.startswith("sqlite_"):
            raise ConfigurationError(
                f"the application name {name!r} cannot name SQLite tables: use only letters, "
                "digits and underscores, not starting with a digit nor with 'sqlite_' (set "
                "`name = ...` on the Application class)."
            )
        return cls(f"{prefix}_events", f"{prefix}_snapshots", f"{prefix}_tracking")


def _dbname(env: Environment) -> str:
    """The database file as an absolute path, so that a change of directory cannot move it.

    `:memory:` and ``file:`` URIs are kept as they are.
    """
    dbname = env.get(SQLITE_DBNAME, "").strip()
    if not dbname:
        raise ConfigurationError(
            f"PERSISTENCE_MODULE=retell.sqlite needs SQLITE_DBNAME (or {env.prefix}SQLITE_DBNAME):"
            " set it to the path of the database file, or to :memory: for an in-memory "
            "database."
        )
    if dbname == ":memory:" or dbname.startswith("file:"):
        return dbname
    return os.path.abspath(dbname)


def _synchronous(env: Environment) -> str:
    """How hard a commit pushes to disk: NORMAL by default, FULL to survive power cuts.

    In WAL mode NORMAL does not wait for the disk at each commit (only at checkpoints):
    a commit survives the application crashing, and the file is never corrupted, but
    the last commits before a power cut or an OS crash may be lost. FULL waits for the
    disk at every commit, which on most disks costs more than everything else a save does.
    """
    value = env.get(SQLITE_SYNCHRONOUS, "").strip().upper() or "NORMAL"
    if value not in SYNCHRONOUS_MODES:
        raise ConfigurationError(
            f"{env.describe('SQLITE_SYNCHRONOUS')}={env['SQLITE_SYNCHRONOUS']!r} is not a "
            "synchronous mode this store supports: use NORMAL (the default: a commit "
            "survives a crash of the application, but the last ones may be lost in a power "
            "cut) or FULL (slower: a commit survives a power cut too)."
        )
    return value
