"""Django set up with tests/admin/settings.py, databases made by tests/django's services.

Each test runs on one backend (`alias`): the events are read from that alias by
the admin (``settings.RETELL["DJANGO_DB_ALIAS"]``), while users and sessions stay
on ``default``. PostgreSQL and MariaDB tests skip when their server is down, unless
RETELL_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.admin.settings")
django.setup()

from django.conf import settings  # noqa: E402 (needs Django set up)
from django.contrib.auth.models import User  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from tests.django import services  # noqa: E402

ALIASES = [
    "default",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(scope="session", autouse=True)
def _test_databases() -> Iterator[None]:
    if "django.contrib.admin" not in settings.INSTALLED_APPS:
        message = (
            f"tests/admin needs DJANGO_SETTINGS_MODULE=tests.admin.settings, but Django was set "
            f"up with {settings.SETTINGS_MODULE}: run tests/admin before tests/django (pytest's "
            "own order) or in a pytest run of its own."
        )
        if os.environ.get("RETELL_REQUIRE_SERVICES"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    services.prepare("default")
    yield
    services.destroy_all()


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """The backend under test; the admin reads events from it."""
    name: str = request.param
    services.prepare(name)
    with override_settings(RETELL={"DJANGO_DB_ALIAS": name}):
        yield name


def store_env(alias: str, **more: str) -> dict[str, str]:
    """The env of an application on the Django store's alias `alias`."""
    return {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": alias, **more}


@pytest.fixture(scope="session")
def superuser() -> User:
    user, _ = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


@pytest.fixture
def client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
