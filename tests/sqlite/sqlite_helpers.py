"""Helpers shared by the SQLite store's tests, importable by spawned processes too."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from retell.config import Environment
from retell.sqlite import Factory
from retell.testing.recorders import stored


def make_factory(dbname: str | Path, name: str = "Tests", **settings: str) -> Factory:
    """A SQLite factory for the application `name`, with more settings if given."""
    env = {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(dbname), **settings}
    return Factory(Environment(name, env))


def raw(dbname: str | Path, statement: str, parameters: Any = ()) -> list[Any]:
    """Run one statement with plain sqlite3 (as another program would) and commit it."""
    connection = sqlite3.connect(str(dbname), isolation_level=None)
    try:
        return connection.execute(statement, parameters).fetchall()
    finally:
        connection.close()


def write_in_process(dbname: str, saves: int, start: Any, topic: str) -> None:
    """A writer process: `saves` saves of an aggregate's two events, as fast as it can.

    Its events have the topic `topic`, so the log shows which process wrote what.
    """
    recorder = make_factory(dbname).application_recorder()
    start.wait(timeout=30)
    try:
        for _ in range(saves):
            a = uuid4()
            recorder.insert_events([stored(a, 1, topic), stored(a, 2, topic)])
            time.sleep(0.001)  # a command's other work: without it one process hogs the lock
    finally:
        recorder.close()
