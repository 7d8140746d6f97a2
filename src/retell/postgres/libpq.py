"""The statements every command runs, sent through libpq with psycopg's `psycopg.pq`.

Why not psycopg's cursor for them: for each statement it looks the query up in its
prepared-statement cache, finds an adapter for each parameter, and builds each row
through its loaders, in Python: about 25 µs of client CPU per statement on the
benchmark machine, as much again as libpq and the kernel spend sending and receiving
it (docs/benchmarks.md). A command is two such statements (read an aggregate, save
it), so that is a quarter of a command's client time. These statements are few and
their values are of a handful of types, so this module prepares each once per
connection under a name of its own, encodes parameters by their Python type, and
loads the binary results with psycopg's own loaders (its C `Transformer`), with
nothing in between.

What it keeps from psycopg: the connection (its lock, and on the main thread its
`Connection.wait`, which cancels the query on Ctrl-C), and its exception classes
(`psycopg.errors`), so that callers handle an error from here exactly as one from a
cursor. A value of a type this module does not know, or a statement that would begin
a transaction, makes `Statements.execute` return None: the caller runs the statement
on a cursor instead.

Off the main thread, a statement is one blocking libpq call (`PQexecPrepared`), which
lets go of the interpreter lock once: sent, waited for and read in C. psycopg's way
(send, wait, then read the result, in several calls) lets go of it and takes it back
four or five times a statement, and with several threads each time may hand it to
another and wait to get it back: two context switches each. Under W4's four threads
the blocking call did 10-15% more commands a second, with a quarter fewer context
switches (docs/benchmarks.md). The main thread keeps psycopg's wait, which on Ctrl-C
cancels the statement on the server; a blocking call would hold the KeyboardInterrupt
until the statement ends. Other threads never receive one, so they lose nothing. Under
gevent every greenlet keeps psycopg's wait, which lets the others run meanwhile. On a
connection of the PostgreSQL store (a `retell.postgres.watchdog.WatchedConnection`),
the blocking call is bounded as psycopg's wait is: the watchdog shuts the socket down
once the server has not answered for POSTGRES_RESPONSE_TIMEOUT, and the call returns.

Each statement's rows are loaded by a `Transformer` of its own, whose loaders (by the
result's column types, which a prepared statement never changes) are looked up on its
first run only: 0.1 µs a result instead of 0.85 µs.

A prepared statement is prepared again after 1, 2, 4... seconds, then every
REPREPARE_MAX_SECONDS. PostgreSQL plans a prepared statement once for any values after
its first few runs (a generic plan) and keeps that plan until the table's statistics
change, which autovacuum may leave for a minute or more: made while a table was small,
the plan reads the whole table (a sequential scan, or the wrong index), and goes on
doing so as the table grows, each read slower than the last. Prepared again, it is
planned for the table as it is now, for a round trip now and then.

Preparing assumes a connection keeps its prepared statements, as a direct connection
does; behind a pooler that does not (PgBouncer in transaction mode before 1.21),
turn preparing off (the Django store's ``prepare_threshold: None``). If a statement
is gone all the same (``DISCARD ALL``), the error says so; outside a transaction it
is prepared again and run once more.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg import abc, errors, pq
from psycopg.adapt import Transformer
from psycopg.generators import execute as _execute

from retell.postgres.watchdog import Watchdog, WatchedConnection

_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[sb]|%%")

REPREPARE_FIRST_SECONDS = 1.0
REPREPARE_MAX_SECONDS = 60.0
"""A statement is prepared again after 1, 2, 4... seconds, then every this many."""

_TEXT, _BINARY = 0, 1
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


class Statement:
    """A query written with psycopg's placeholders, as libpq runs it.

    Placeholders are positional (``%s``) or named (``%(name)s``), not both; ``%b``
    works alike. ``%%`` is a literal ``%``. The name it is prepared under is taken
    from its text, so equal texts share one prepared statement on a connection.
    """

    __slots__ = ("name", "names", "query", "text")

    def __init__(self, query: str) -> None:
        self.query = query
        """The text as given, for a cursor."""
        names: list[str] = []
        positional = 0

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "%%":
                return "%"
            if match.group(1) is None:
                positional += 1
                return f"${positional}"
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        text = _PLACEHOLDER.sub(number, query)
        if names and positional:
            raise ValueError(f"a query mixes named and positional placeholders: {query!r}")
        self.text = text.encode()
        self.names: tuple[str, ...] | None = tuple(names) if names else None
        """The named parameters in $n order, or None for positional ones."""
        self.name = b"retell_" + hashlib.blake2b(self.text, digest_size=10).hexdigest().encode()


class Statements:
    """Runs `Statement`s on one psycopg connection, preparing each on first use.

    Used by one thread at a time, like the connection; it takes the connection's lock
    around each statement all the same, as psycopg's cursors do.
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self._pgconn = connection.pgconn
        self._prepared: dict[bytes, tuple[float, float]] = {}
        """By name: when to prepare it again, and the interval that led there."""
        self._encoding = connection.info.encoding
        self._watch: tuple[Watchdog, WatchedConnection] | None = None
        """What bounds a blocking call's wait for the server, as psycopg's wait is bounded
        for the other calls (`retell.postgres.watchdog`); None: nothing."""
        if isinstance(connection, WatchedConnection) and connection.watchdog is not None:
            self._watch = (connection.watchdog, connection)
        self._transformers: dict[bytes, abc.Transformer] = {}
        """By statement name: psycopg's loaders of its binary columns to Python values (in
        C, where psycopg is), set on its first result."""

    def execute(
        self,
        statement: Statement,
        params: Sequence[Any] | Mapping[str, Any] = (),
    ) -> list[tuple[Any, ...]] | None:
        """The rows of the statement's result, as tuples, or None
        to say: run it on a cursor instead. That is when a parameter's type is not one
        this module encodes, or when the statement would be the first of a transaction:
        out of autocommit, psycopg begins a transaction (with the connection's isolation
        level) before a cursor's first statement, and only its cursor knows how.
        """
        if (
            not self.connection.autocommit
            and self._pgconn.transaction_status == pq.TransactionStatus.IDLE
        ):
            return None
        encoded: list[bytes | None] = []
        formats: list[int] = []
        names = statement.names
        values: Sequence[Any] = (
            params  # type: ignore[assignment]  # a sequence, for positional placeholders
            if names is None
            else [params[name] for name in names]  # type: ignore[call-overload]
        )
        for value in values:  # by Python type (see the module's docstring)
            kind = type(value)
            if kind is UUID:
                encoded.append(value.bytes)
                formats.append(_BINARY)
            elif kind is int:
                encoded.append(b"%d" % value)  # as text: the server reads it as the
                formats.append(_TEXT)  # statement's type for the parameter, as for str
            elif kind is str:
                encoded.append(value.encode())
                formats.append(_TEXT)
            elif kind is bytes:
                encoded.append(value)
                formats.append(_BINARY)
            elif value is None:
                encoded.append(None)
                formats.append(_TEXT)
            else:
                return None
        with self.connection.lock:
            try:
                result = self._run(statement, encoded, formats)
            except errors.InvalidSqlStatementName:
                # Prepared here before, gone since (DISCARD ALL, DEALLOCATE).
                self._prepared.clear()
                if self._pgconn.transaction_status != pq.TransactionStatus.IDLE:
                    raise  # the transaction is aborted: the caller's to handle
                result = self._run(statement, encoded, formats)
            # Under the lock, as the connection's Transformers are this object's.
            transformer = self._transformers.get(statement.name)
            if transformer is None:
                transformer = self._transformers[statement.name] = Transformer(self.connection)
                transformer.set_pgresult(result, set_loaders=True, format=pq.Format.BINARY)
            else:
                transformer.set_pgresult(result, set_loaders=False)
            return transformer.load_rows(0, result.ntuples, tuple)

    def _run(
        self, statement: Statement, encoded: list[bytes | None], formats: list[int]
    ) -> pq.abc.PGresult:
        pgconn = self._pgconn
        name = statement.name
        due = self._prepared.get(name)
        now = time.monotonic()
        if due is None or now >= due[0]:
            interval = REPREPARE_FIRST_SECONDS
            if due is not None:
                interval = min(due[1] * 2, REPREPARE_MAX_SECONDS)
                pgconn.send_query(b"DEALLOCATE " + name)
                self._check(self.connection.wait(_execute(pgconn)))
                del self._prepared[name]
            pgconn.send_prepare(name, statement.text)
            self._check(self.connection.wait(_execute(pgconn)))
            self._prepared[name] = (now + interval, interval)
            self._transformers.pop(name, None)  # its columns' types may have changed
        if _may_block():
            watch = self._watch
            if watch is not None:
                watch[0].watch(watch[1])
            try:
                # A None is sent as NULL, as by send_query_prepared (psycopg's stub omits it).
                result = pgconn.exec_prepared(name, encoded, formats, _BINARY)  # type: ignore[arg-type]
            finally:
                if watch is not None:
                    watch[0].done(watch[1])
        else:
            pgconn.send_query_prepared(name, encoded, formats, _BINARY)
            result = self.connection.wait(_execute(pgconn))[-1]
        return self._check([result])

    def _check(self, results: list[pq.abc.PGresult]) -> pq.abc.PGresult:
        """The last result, or its error: psycopg's class for its SQLSTATE, and
        OperationalError for a lost connection (whose error has none)."""
        result = results[-1]
        if result.status in _OK:
            return result
        error = errors.error_from_result(result, encoding=self._encoding)
        if self._pgconn.status == pq.ConnStatus.BAD and not isinstance(
            error, errors.OperationalError
        ):
            raise errors.OperationalError(str(error) or "the connection was lost")
        raise error


def _may_block() -> bool:
    """Whether this thread may wait for the server in one blocking libpq call: not on
    the main thread (which a Ctrl-C reaches), nor under gevent, whose greenlets share a
    thread that a blocking call would stop (psycopg's wait yields to them, as its own
    wait functions do once gevent has patched `select`)."""
    if threading.get_ident() == threading.main_thread().ident:
        return False
    monkey = sys.modules.get("gevent.monkey")
    return monkey is None or not monkey.is_module_patched("select")


_ATTRIBUTE = "_retell_statements"


def statements(connection: psycopg.Connection[Any]) -> Statements:
    """The `Statements` of a connection: made on first use, gone with the connection.

    Kept on the connection itself: the two refer to each other, and the garbage
    collector frees both once the connection is unreachable. (A WeakKeyDictionary by
    connection would never free it: its value refers to its key.)
    """
    found: Statements | None = getattr(connection, _ATTRIBUTE, None)
    if found is None:
        found = Statements(connection)
        setattr(connection, _ATTRIBUTE, found)
    return found
