"""Helpers for the SQLite store's tests: factories on a file of the test's own, or in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from retell.config import Environment
from retell.sqlite import Factory

MakeFactory = Callable[..., Factory]


def make_factory(dbname: str | Path, name: str = "Tests", **settings: str) -> Factory:
    """A SQLite factory for the application `name`, with more settings if given."""
    env = {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(dbname), **settings}
    return Factory(Environment(name, env))


@pytest.fixture
def dbfile(tmp_path: Path) -> Path:
    """The path of a database file that does not exist yet."""
    return tmp_path / "events.db"
