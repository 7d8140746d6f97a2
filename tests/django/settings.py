"""Django settings for retell.django's tests: one alias per database server, and spares.

- ``default``: SQLite in a file, with the options docs/django.md recommends.
- ``plain_sqlite``: SQLite with Django's default options (DEFERRED transactions).
- ``unmigrated``: SQLite that tests migrate themselves (not-migrated errors, migrate).
- ``postgres`` and ``mariadb``: the servers on 127.0.0.1, in a test database per
  process (the tests skip one that is down, unless RETELL_REQUIRE_SERVICES is set).

The test databases are made by tests/django/conftest.py.
"""

from __future__ import annotations

import os
import tempfile

# Per process: test runs going on at once (two developers' on one machine) must not
# drop each other's test databases.
_TEST_DB = f"test_retell_django_{os.getpid()}"
_DIR = os.environ.get("RETELL_DJANGO_TEST_DIR") or tempfile.mkdtemp(prefix="retell-django-")

SECRET_KEY = "retell-tests"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "retell.django",
    "tests.django.shop",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}


def _sqlite(name: str, options: dict[str, object] | None = None) -> dict[str, object]:
    path = os.path.join(_DIR, f"{name}.sqlite3")
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": dict(options or {}),
        "TEST": {"NAME": path},
    }


DATABASES = {
    "default": _sqlite("default", _SQLITE_OPTIONS),
    "plain_sqlite": _sqlite("plain"),
    "unmigrated": _sqlite("unmigrated", _SQLITE_OPTIONS),
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "TEST": {"NAME": _TEST_DB},
    },
    "mariadb": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "test",
        "USER": "root",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": "3306",
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {"NAME": _TEST_DB, "CHARSET": "utf8mb4"},
    },
}

RETELL: dict[str, object] = {}
# With retell.django installed its store is the default one; the rest of the suite,
# which runs in this process too, expects memory where it names no store.
RETELL_DEFAULT_STORE = "retell.memory"
