"""A reader's remembered horizon, trusted only on the server that settled it.

A reader remembers the highest settled horizon it has seen, so that reading a
backlog page by page costs one query per page. A horizon holds for one server
incarnation only: after a crash, an immediate shutdown or a failover, ids that
transactions took and then rolled back may be handed out again (PostgreSQL logs a
sequence ahead of use, and only a commit flushes that log), so positions below an
old horizon can be taken anew. The horizon query therefore also returns the
server's incarnation (its postmaster's start time), each connection is tagged with
the incarnation it reached, and a remembered horizon is used only on connections to
the incarnation that gave it; on any other, the reader asks again.

Used by the PostgreSQL store and the Django store on PostgreSQL; it imports no
driver, so the Django store loads it on any database.
"""

from __future__ import annotations

import weakref
from typing import Any

INCARNATION = "pg_catalog.pg_postmaster_start_time()::text"
"""The SQL the horizon query returns beside the horizon: which server answered.

Every start of a server (a restart, recovery after a crash, a promoted standby) has
its own start time, and a connection reaches one incarnation for its whole life.
"""

_incarnations: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
"""The incarnation each open connection reached, learned from its first horizon."""


def incarnation_of(connection: Any) -> str | None:
    """The server incarnation `connection` reached, if a horizon query on it told."""
    return _incarnations.get(connection)


class RememberedHorizon:
    """The highest settled horizon seen so far, and the incarnation that settled it.

    Safe to share between threads: it is replaced as a whole, and a lost update only
    costs one more horizon query.
    """

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: tuple[str | None, int] = (None, 1)

    def below(self, connection: Any) -> int:
        """Every position below this one is settled, for a read on `connection`: the
        remembered horizon if the connection reached the server that settled it, else
        1 (nothing is known: ask)."""
        server, horizon = self._known
        if server is None or _incarnations.get(connection) != server:
            return 1
        return horizon

    def learn(self, connection: Any, horizon: int, server: str) -> None:
        """Record a horizon that `server` returned on `connection`."""
        _incarnations[connection] = server
        known_server, known = self._known
        if known_server != server or horizon > known:
            self._known = (server, horizon)
