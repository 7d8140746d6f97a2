"""Each example's scenario runs on every store: memory, SQLite, PostgreSQL, and the
Django store on a SQLite and a PostgreSQL alias of the Django test settings.

Django is set up as tests/django sets it up (tests/admin's settings, a superset of
every Django test package's, once per process), and its test databases are made and
migrated by tests/django's services. The Django store keeps every application's
events in shared tables, by application name, so the records of the examples'
applications are deleted before and after each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.admin.settings")
django.setup()

from tests.conftest import _store_env  # noqa: E402
from tests.django import services  # noqa: E402
from tests.django.helpers import forget  # noqa: E402

# The names of the examples' applications, whose records the Django store shares.
APPLICATION_NAMES = ("BankAccounts", "BookingApplication", "ContentManagement", "DogSchool")


@pytest.fixture(scope="package", autouse=True)
def _django_test_databases() -> Iterator[None]:
    yield
    services.destroy_all()  # drops the PostgreSQL test database made for the Django store


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "django-sqlite",
        pytest.param("django-postgres", marks=pytest.mark.postgres),
    ]
)
def example_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The env of an example's application on a fresh, empty store of each kind."""
    kind: str = request.param
    if not kind.startswith("django-"):
        yield from _store_env(kind, tmp_path)
        return
    alias = "default" if kind == "django-sqlite" else "postgres"
    services.prepare(alias)  # skips (or fails, in CI) when the server is down
    forget(alias, APPLICATION_NAMES)
    try:
        yield {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": alias}
    finally:
        forget(alias, APPLICATION_NAMES)
