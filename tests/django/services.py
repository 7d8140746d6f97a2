"""Which database servers the tests can reach, and the test databases made on them.

A server that is down skips its tests, unless RETELL_REQUIRE_SERVICES is set (as in
CI), where it fails them: a missing server must not pass as a green run.
"""

from __future__ import annotations

import importlib.util
import os
import socket

import django
import pytest
from django.db import connections

SERVERS = {"postgres": ("127.0.0.1", 5432), "mariadb": ("127.0.0.1", 3306)}

_prepared: dict[str, str] = {}
"""Alias -> the database name it had before its test database replaced it."""


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def require(alias: str) -> None:
    """Skip (or, with RETELL_REQUIRE_SERVICES, fail) unless the alias's server is up."""
    server = SERVERS.get(alias)
    if alias == "mariadb" and importlib.util.find_spec("MySQLdb") is None:
        message = (
            "mariadb needs mysqlclient: apt-get install default-libmysqlclient-dev pkg-config, "
            "then pip install '.[test-mariadb]' (python3 dev.py test does it when it can)"
        )
    elif server is None or reachable(*server):
        return
    else:
        message = f"{alias} needs its server on {server[0]}:{server[1]}, which is not reachable"
    if os.environ.get("RETELL_REQUIRE_SERVICES"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def prepare(alias: str) -> None:
    """Make the alias's test database and migrate it, once per test session."""
    require(alias)
    if alias in _prepared:
        return
    connection = connections[alias]
    original = connection.settings_dict["NAME"]
    # Django 6 deprecates `serialize` (and serializes no more by default).
    options = {} if django.VERSION >= (6,) else {"serialize": False}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, **options)
    _prepared[alias] = original


def destroy_all() -> None:
    """Drop the test databases made on servers (SQLite files go with their directory)."""
    for alias, original in sorted(_prepared.items()):
        connection = connections[alias]
        if connection.vendor != "sqlite":
            connection.close()
            connection.creation.destroy_test_db(original, verbosity=0)
    _prepared.clear()
