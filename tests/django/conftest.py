"""Django is set up for every test here, with tests/django/settings.py.

These tests do not need pytest-django (and do not use its fixtures, even where it is
installed). The test databases are made on first use by `services.prepare` (SQLite files in a
temporary directory, and ``test_retell_django`` on the servers) and migrated with
retell's migrations, like a project's would be.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import django
import pytest

# tests/admin's settings are a superset of every Django test package's: whichever
# package sets Django up first (once per process), all of them run.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.admin.settings")
django.setup()

from django.db import connections  # noqa: E402 (needs Django set up)

from tests.django import services  # noqa: E402 (needs Django set up)


@pytest.fixture(scope="session", autouse=True)
def _test_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.config.pluginmanager.hasplugin("django"):
        with request.getfixturevalue("django_db_blocker").unblock():
            services.destroy_all()
    else:
        services.destroy_all()


@pytest.fixture(autouse=True)
def _database_access(request: pytest.FixtureRequest) -> Iterator[None]:
    """Where pytest-django is installed, let these tests at the databases they manage."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock():
        yield


@pytest.fixture
def unmigrated() -> Iterator[str]:
    """The alias 'unmigrated', with an empty database file."""
    connection = connections["unmigrated"]
    connection.close()
    path = str(connection.settings_dict["NAME"])
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
    yield "unmigrated"
    connection.close()
