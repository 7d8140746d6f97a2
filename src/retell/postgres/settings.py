"""The PostgreSQL store's settings, read and checked once, when the factory is made.

Checking here means a wrong key fails when the application is constructed, with a
message naming the key as the user set it, rather than at the first save.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from retell.config import Environment
from retell.errors import ConfigurationError
from retell.persistence.ids import IdType, originator_id_type
from retell.postgres.names import TableNames

# The keys this store reads (also its factory's attributes, as in the eventsourcing library).
POSTGRES_DBNAME = "POSTGRES_DBNAME"
POSTGRES_HOST = "POSTGRES_HOST"
POSTGRES_PORT = "POSTGRES_PORT"
POSTGRES_USER = "POSTGRES_USER"
POSTGRES_PASSWORD = "POSTGRES_PASSWORD"
POSTGRES_SCHEMA = "POSTGRES_SCHEMA"
POSTGRES_CONNECT_TIMEOUT = "POSTGRES_CONNECT_TIMEOUT"
POSTGRES_LOCK_TIMEOUT = "POSTGRES_LOCK_TIMEOUT"
POSTGRES_POOL_SIZE = "POSTGRES_POOL_SIZE"
POSTGRES_STATEMENT_TIMEOUT = "POSTGRES_STATEMENT_TIMEOUT"
POSTGRES_RESPONSE_TIMEOUT = "POSTGRES_RESPONSE_TIMEOUT"
POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"

DEFAULT_PORT = 5432
DEFAULT_SCHEMA = "public"
DEFAULT_POOL_SIZE = 5
DEFAULT_CONNECT_TIMEOUT = 5.0
MIN_CONNECT_TIMEOUT = 2
"""libpq (and psycopg's connect) wait at least 2 seconds, in whole seconds: a shorter or
fractional POSTGRES_CONNECT_TIMEOUT would be reported as one thing and be another."""
DEFAULT_LOCK_TIMEOUT = 5.0
"""Seconds a statement waits for a lock (another writer of the same aggregate version)."""
DEFAULT_STATEMENT_TIMEOUT = 60.0
DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT = 10.0
"""Seconds a connection may sit in an open transaction: bounds how long a writer that
vanished mid-transaction (its process hung, its network cut) can hold readers back."""
RESPONSE_MARGIN = 5.0
"""POSTGRES_RESPONSE_TIMEOUT's default is this much above POSTGRES_STATEMENT_TIMEOUT: a
statement may run that long before the server cancels it, and its answer must travel."""
KEEPALIVES_IDLE = 10
KEEPALIVES_INTERVAL = 5
KEEPALIVES_COUNT = 3
"""TCP keepalives: an idle connection (the listener's, a pooled one) whose server's host
vanished or whose network was cut is found dead after 10 + 3 x 5 seconds. They do not
help with a frozen server whose host is up: its kernel answers them."""
TCP_USER_TIMEOUT_MS = (KEEPALIVES_IDLE + KEEPALIVES_COUNT * KEEPALIVES_INTERVAL) * 1000
"""Data sent and not acknowledged for this long (a cut network) closes the connection."""


@dataclass(frozen=True)
class PostgresSettings:
    """Where the database is, how to log in, and the limits every connection runs under."""

    dbname: str
    host: str
    port: int
    user: str
    password: str
    pool_size: int
    connect_timeout: float
    lock_timeout: float
    statement_timeout: float
    idle_in_transaction_timeout: float
    response_timeout: float
    """Seconds a call waits for the server's answer on an open connection; 0: no bound."""
    create_table: bool
    tables: TableNames
    env: Environment
    originator_id_type: IdType = "uuid"
    """``ORIGINATOR_ID_TYPE``: UUID ids in a ``uuid`` column, or str ids in ``text``."""

    @classmethod
    def from_env(cls, env: Environment) -> PostgresSettings:
        statement_timeout = env.get_float(POSTGRES_STATEMENT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT)
        return cls(
            dbname=_dbname(env),
            host=env.get(POSTGRES_HOST, "").strip() or "localhost",
            port=_port(env),
            user=env.get(POSTGRES_USER, "").strip(),
            password=env.get(POSTGRES_PASSWORD, ""),
            pool_size=env.get_int(POSTGRES_POOL_SIZE, DEFAULT_POOL_SIZE, minimum=1),
            connect_timeout=_connect_timeout(env),
            lock_timeout=env.get_float(POSTGRES_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
            statement_timeout=statement_timeout,
            idle_in_transaction_timeout=env.get_float(
                POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
            ),
            response_timeout=_response_timeout(env, statement_timeout),
            create_table=env.get_bool("CREATE_TABLE", True),
            tables=TableNames.for_application(
                env.name,
                env.get(POSTGRES_SCHEMA, "").strip() or DEFAULT_SCHEMA,
                env.describe(POSTGRES_SCHEMA),
            ),
            env=env,
            originator_id_type=originator_id_type(env),
        )

    @property
    def server(self) -> str:
        """``host:port`` of the server, for messages."""
        return f"{self.host}:{self.port}"

    def describe(self, key: str) -> str:
        """The key as the user set it (with the application's prefix, if they used it)."""
        return self.env.describe(key)

    def connect_kwargs(self) -> dict[str, Any]:
        """What psycopg.connect needs, the timeouts included as session settings.

        The timeouts travel in the startup packet (``options``), so a new connection
        costs no extra round trip to set them.
        """
        settings = [
            (name, str(int(seconds * 1000)))
            for name, seconds in (
                ("lock_timeout", self.lock_timeout),
                ("statement_timeout", self.statement_timeout),
                ("idle_in_transaction_session_timeout", self.idle_in_transaction_timeout),
            )
        ]
        # Unqualified names (a view's tables) resolve in the application's schema.
        settings.append(("search_path", self.tables.quoted_schema))
        options = " ".join(f"-c {name}={_escape_option(value)}" for name, value in settings)
        kwargs: dict[str, Any] = {
            "dbname": self.dbname,
            "host": self.host,
            "port": self.port,
            "connect_timeout": int(self.connect_timeout),
            "options": options,
            "application_name": f"retell {self.env.name}"[:63],
            "keepalives": 1,
            "keepalives_idle": KEEPALIVES_IDLE,
            "keepalives_interval": KEEPALIVES_INTERVAL,
            "keepalives_count": KEEPALIVES_COUNT,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        }
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        return kwargs


def _escape_option(value: str) -> str:
    """A value for libpq's ``options``: the server splits them at white space, unless escaped."""
    return "".join("\\" + c if c.isspace() or c == "\\" else c for c in value)


def _dbname(env: Environment) -> str:
    dbname = env.get(POSTGRES_DBNAME, "").strip()
    if not dbname:
        raise ConfigurationError(
            f"PERSISTENCE_MODULE=retell.postgres needs POSTGRES_DBNAME (or "
            f"{env.prefix}POSTGRES_DBNAME): set it to the name of the database."
        )
    return dbname


def _connect_timeout(env: Environment) -> float:
    """Whole seconds, at least 2: what libpq honours (see MIN_CONNECT_TIMEOUT)."""
    key = POSTGRES_CONNECT_TIMEOUT
    timeout = env.get_float(key, DEFAULT_CONNECT_TIMEOUT)
    if timeout < MIN_CONNECT_TIMEOUT or not timeout.is_integer():
        raise ConfigurationError(
            f"{env.describe(key)}={env[key].strip()} cannot be honoured: libpq waits for a "
            f"connection in whole seconds, and at least {MIN_CONNECT_TIMEOUT}. Set it to a "
            f"whole number of seconds of at least {MIN_CONNECT_TIMEOUT}."
        )
    return timeout


def _response_timeout(env: Environment, statement_timeout: float) -> float:
    """More than the statement timeout (0: no bound); by default, RESPONSE_MARGIN more."""
    key = POSTGRES_RESPONSE_TIMEOUT
    default = statement_timeout + RESPONSE_MARGIN if statement_timeout else 0.0
    timeout = env.get_float(key, default)
    if not math.isfinite(timeout):
        raise ConfigurationError(
            f"{env.describe(key)}={timeout} is not a number of seconds: use 0 for no bound."
        )
    if timeout and statement_timeout and timeout <= statement_timeout:
        raise ConfigurationError(
            f"{env.describe(key)}={timeout} must be more than "
            f"{env.describe('POSTGRES_STATEMENT_TIMEOUT')}={statement_timeout}: a statement "
            f"may run that long before the server cancels it. Set it higher, or set "
            f"{env.describe('POSTGRES_STATEMENT_TIMEOUT')} lower (or this to 0: no bound)."
        )
    return timeout


def _port(env: Environment) -> int:
    port = env.get_int(POSTGRES_PORT, DEFAULT_PORT, minimum=1)
    if port > 65535:
        raise ConfigurationError(
            f"{env.describe('POSTGRES_PORT')}={port} is not a TCP port: use 1 to 65535 "
            f"(PostgreSQL's default is {DEFAULT_PORT})."
        )
    return port
