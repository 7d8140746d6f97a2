"""Django set up for the worker commands' tests, with the kennel app installed.

Django is set up once per process, by the first conftest that pytest imports
(tests/admin's in a whole run). Its settings lack the kennel app, so a fixture
installs it for this package (override_settings of INSTALLED_APPS, the way Django's
own tests add apps) and migrates it on each database the tests prepare.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest

# tests/admin's settings are a superset of every Django test package's: whichever
# package sets Django up first (once per process), all of them run.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.admin.settings")
django.setup()

from django.conf import settings  # noqa: E402 (needs Django set up)
from django.test.utils import override_settings  # noqa: E402

from tests.django import services  # noqa: E402
from tests.django_commands.helpers import clean  # noqa: E402
from tests.django_commands.settings import WORKER_SETTINGS  # noqa: E402

KENNEL = "tests.django_commands.kennel"


@pytest.fixture(scope="package", autouse=True)
def _kennel_installed() -> Iterator[None]:
    apps = list(settings.INSTALLED_APPS)
    with override_settings(INSTALLED_APPS=apps if KENNEL in apps else [*apps, KENNEL]):
        yield
    services.destroy_all()


@pytest.fixture(autouse=True)
def _worker_settings() -> Iterator[None]:
    with override_settings(**WORKER_SETTINGS):
        yield


@pytest.fixture(
    params=[
        "default",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def alias(request: pytest.FixtureRequest) -> str:
    """A clean test database on each backend (a module may parametrize fewer, indirectly)."""
    name: str = request.param
    clean(name)
    return name
