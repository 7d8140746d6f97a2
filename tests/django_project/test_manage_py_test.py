"""``manage.py test`` of a user's project (tests/django_project/project.py) passes, with
no teardown of retell's in the project's tests: on PostgreSQL, where Django must drop
a test database that retell's threads used, and on SQLite's default in-memory test
database, shared by the test's threads, several times over."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import postgres_reachable
from tests.django_project import project

pytestmark = pytest.mark.slow

TESTS = 8
"""The tests in the project's pets/tests.py."""

POSTGRES = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "127.0.0.1",
    "PORT": 5432,
    "USER": "postgres",
    "NAME": "postgres",
}


def passed(directory: Path) -> None:
    result = project.manage(directory, "test", "--noinput", "-v", "2")
    report = f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert result.returncode == 0, report
    assert f"Ran {TESTS} tests" in result.stderr, report
    assert "being accessed by other users" not in result.stderr, report


@pytest.mark.postgres
def test_on_postgresql_the_test_database_is_dropped(tmp_path: Path) -> None:
    if not postgres_reachable():
        if os.environ.get("RETELL_REQUIRE_SERVICES"):
            pytest.fail("PostgreSQL is required (RETELL_REQUIRE_SERVICES) but unreachable")
        pytest.skip("PostgreSQL is not on 127.0.0.1:5432")
    name = f"test_retell_project_{uuid.uuid4().hex[:12]}"
    project.write(tmp_path, {"default": {**POSTGRES, "TEST": {"NAME": name}}})
    try:
        passed(tmp_path)
        assert not _exists(name), f"the test database {name} was left behind"
    finally:
        _drop(name)


ROLLED_BACK_TWICE = """\
from django.test import TestCase

from pets.domain import School


class RolledBackTests(TestCase):
    def test_saved_in_a_transaction_rolled_back(self):
        with School() as school:
            school.register("Fido", "sit")

    def test_saved_again_in_the_next(self):
        with School() as school:
            school.register("Fido", "sit")
"""


@pytest.mark.postgres
def test_on_postgresql_testcases_that_save_one_after_another(tmp_path: Path) -> None:
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not on 127.0.0.1:5432")
    name = f"test_retell_project_{uuid.uuid4().hex[:12]}"
    project.write(tmp_path, {"default": {**POSTGRES, "TEST": {"NAME": name}}})
    (tmp_path / "pets" / "test_rolled_back.py").write_text(ROLLED_BACK_TWICE)
    try:
        result = project.manage(tmp_path, "test", "--noinput", "pets.test_rolled_back")
        assert result.returncode == 0, result.stderr[-3000:]
    finally:
        _drop(name)


def test_on_sqlites_in_memory_test_database_every_time(tmp_path: Path) -> None:
    project.write(
        tmp_path,
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}},
    )
    for _ in range(5):
        passed(tmp_path)


def _exists(name: str) -> bool:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as connection:
        row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def _drop(name: str) -> None:
    """What a failed run left behind."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
    ) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
