"""Projects made as a user makes them (``django-admin startproject``), run with manage.py.

Each builds its application, or a runner, in its own ``AppConfig.ready()``, the pattern
eventsourcing-django documents, with ``retell.django`` listed after its app (what
``INSTALLED_APPS += ["retell.django"]`` gives), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import postgres_reachable

SCHOOL = """
from uuid import NAMESPACE_URL, uuid5

from retell import Aggregate, AggregateNotFound, Application, event
from retell.system import MultiThreadedRunner, ProcessApplication, SingleThreadedRunner, System


class TrainingSchool(Application):
    def register(self, name):
        self.save(Dog(name))

    def add_trick(self, name, trick):
        dog = self.repository.get(Dog.create_id(name))
        dog.add_trick(trick)
        self.save(dog)

    def get_tricks(self, name):
        return self.repository.get(Dog.create_id(name)).tricks


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name):
        self.name = name
        self.tricks = []

    @staticmethod
    def create_id(name):
        return uuid5(NAMESPACE_URL, f"/dogs/{name}")

    @event("TrickAdded")
    def add_trick(self, trick):
        self.tricks.append(trick)


class Counter(Aggregate):
    @event("Started")
    def __init__(self, dog_id):
        self.count = 0

    @staticmethod
    def create_id(dog_id):
        return uuid5(NAMESPACE_URL, f"/counters/{dog_id}")

    @event("Incremented")
    def increment(self):
        self.count += 1


class Counters(ProcessApplication):
    def policy(self, domain_event, processing_event):
        if isinstance(domain_event, Dog.TrickAdded):
            dog_id = str(domain_event.originator_id)
            try:
                counter = self.repository.get(Counter.create_id(dog_id))
            except AggregateNotFound:
                counter = Counter(dog_id)
            counter.increment()
            processing_event.collect_events(counter)

    def count(self, name):
        try:
            return self.repository.get(Counter.create_id(str(Dog.create_id(name)))).count
        except AggregateNotFound:
            return 0
"""

APPLICATION_READY = """
from django.apps import AppConfig


class DogsConfig(AppConfig):
    name = "dogs"

    def ready(self):
        from dogs.school import TrainingSchool

        self.training_school = TrainingSchool({env})
"""

RUNNER_READY = """
from django.apps import AppConfig


class DogsConfig(AppConfig):
    name = "dogs"

    def ready(self):
        from dogs.school import Counters, System, TrainingSchool, {runner}

        self.runner = {runner}(System(pipes=[[TrainingSchool, Counters]]))
        self.runner.start()
"""

SCHOOL_OF = "from django.apps import apps; school = apps.get_app_config('dogs').training_school; "
RUNNER_OF = "from django.apps import apps; runner = apps.get_app_config('dogs').runner; "


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The DATABASES entry of a fresh database: a file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield repr({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")})
        return
    if not postgres_reachable():
        if os.environ.get("RETELL_REQUIRE_SERVICES"):
            pytest.fail("PostgreSQL is required (RETELL_REQUIRE_SERVICES) but unreachable")
        pytest.skip("PostgreSQL is not on 127.0.0.1:5432")
    import psycopg

    name = f"retell_project_{uuid.uuid4().hex[:12]}"
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield repr(
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": name,
                "USER": "postgres",
                "HOST": "127.0.0.1",
                "PORT": "5432",
            }
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def project(
    tmp_path: Path, database: str, ready: str, settings: str = "", *, installed: bool = True
) -> Path:
    """A new project with the app ``dogs``, ``retell.django`` after it (or not at all)."""
    root = tmp_path / "project"
    root.mkdir()
    made = run([sys.executable, "-m", "django", "startproject", "mysite", str(root)], tmp_path)
    assert made.returncode == 0, made.stderr
    (root / "dogs").mkdir()
    (root / "dogs" / "__init__.py").write_text("")
    (root / "dogs" / "school.py").write_text(SCHOOL)
    (root / "dogs" / "apps.py").write_text(textwrap.dedent(ready))
    added = '"dogs", "retell.django"' if installed else '"dogs"'
    with (root / "mysite" / "settings.py").open("a") as file:
        file.write(f"\nINSTALLED_APPS += [{added}]\nDATABASES = {{'default': {database}}}\n")
        file.write(textwrap.dedent(settings))
    return root


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command as a user runs it: no test settings, no retell keys in the environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DJANGO_SETTINGS_MODULE"
        and not key.startswith(("RETELL", "PERSISTENCE"))
        and "DJANGO_DB_ALIAS" not in key
    }
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def manage(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = run([sys.executable, "manage.py", *args], root)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """What the shell printed last (Django 5.2's shell first says what it imported)."""
    return result.stdout.strip().splitlines()[-1]


# The events' database under the alias "events", which only RETELL names; "default" is
# another, unmigrated, database: an application that missed RETELL fails to save there.
EVENTS_ALIAS = """
DATABASES["events"] = DATABASES.pop("default")
DATABASES["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "other.db"}
RETELL = {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": "events"}
"""


@pytest.mark.parametrize(
    ("settings", "alias"),
    [
        pytest.param(EVENTS_ALIAS, "events", id="retell-setting"),
        pytest.param("", "default", id="no-persistence-module"),
    ],
)
def test_an_application_built_in_ready_keeps_its_events_in_the_database(
    tmp_path: Path, database: str, settings: str, alias: str
) -> None:
    root = project(tmp_path, database, APPLICATION_READY.format(env=""), settings)
    manage(root, "migrate", "--database", alias, "-v", "0")
    manage(
        root,
        "shell",
        "-c",
        SCHOOL_OF + "school.register('Fido'); school.add_trick('Fido', 'roll over')",
    )
    read = manage(root, "shell", "-c", SCHOOL_OF + "print(school.get_tricks('Fido'))")
    assert last_line(read) == "['roll over']"


def test_retell_settings_without_the_app_are_refused(tmp_path: Path, database: str) -> None:
    settings = 'RETELL = {"PERSISTENCE_MODULE": "retell.django"}\n'
    root = project(tmp_path, database, APPLICATION_READY.format(env=""), settings, installed=False)
    result = manage(root, "check", ok=False)
    assert result.returncode != 0
    assert "'retell.django' is not in INSTALLED_APPS" in result.stderr


@pytest.mark.parametrize(
    ("settings", "env", "check_id", "first_use"),
    [
        ('RETELL = {"DJANGO_DB_ALIAS": "events"}\n', "", "retell.E002", "'events'"),
        ("", '{"DJANGO_DB_ALIAS": "events"}', "retell.E002", "'events'"),
        ('RETELL = {"CIPHER_KEY": "not-a-key"}\n', "", "retell.E003", "CIPHER_KEY"),
        ("", '{"CIPHER_KEY": "not-a-key"}', "retell.E003", "CIPHER_KEY"),
    ],
    ids=["alias-in-settings", "alias-in-env", "key-in-settings", "key-in-env"],
)
def test_check_reports_what_an_application_built_in_ready_got_wrong(
    tmp_path: Path, database: str, settings: str, env: str, check_id: str, first_use: str
) -> None:
    root = project(tmp_path, database, APPLICATION_READY.format(env=env), settings)
    result = manage(root, "check", ok=False)
    assert result.returncode != 0
    assert check_id in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    used = manage(root, "shell", "-c", SCHOOL_OF + "school.register('Fido')", ok=False)
    assert used.returncode != 0
    assert "ConfigurationError" in used.stderr and first_use in used.stderr, used.stderr


@pytest.mark.parametrize("runner", ["SingleThreadedRunner", "MultiThreadedRunner"])
def test_a_runner_started_in_ready_lets_migrate_make_the_tables(
    tmp_path: Path, database: str, runner: str
) -> None:
    root = project(tmp_path, database, RUNNER_READY.format(runner=runner))
    manage(root, "migrate", "-v", "0")
    saved = manage(
        root,
        "shell",
        "-c",
        RUNNER_OF + "import time; from dogs.school import Counters, TrainingSchool; "
        "school = runner.get(TrainingSchool); school.register('Fido'); "
        "school.add_trick('Fido', 'roll over'); deadline = time.monotonic() + 10\n"
        "while runner.get(Counters).count('Fido') < 1 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(runner.get(Counters).count('Fido')); runner.stop()",
    )
    assert last_line(saved) == "1"
    manage(root, "sync_followers")
    read = manage(
        root,
        "shell",
        "-c",
        RUNNER_OF + "from dogs.school import Counters; print(runner.get(Counters).count('Fido'))",
    )
    assert last_line(read) == "1"


def test_an_application_made_before_django_setup_is_refused(tmp_path: Path) -> None:
    """Its store would be retell.django's once Django is set up: not memory until then."""
    code = (
        "from django.conf import settings; "
        "settings.configure(INSTALLED_APPS=['retell.django']); "
        "from retell import Application; Application()"
    )
    result = run([sys.executable, "-c", code], tmp_path)
    assert result.returncode != 0
    assert "ConfigurationError: Django is not set up yet" in result.stderr, result.stderr


def test_retell_default_store_names_the_store_of_applications_that_name_none() -> None:
    """Test settings can keep the unit tests of applications in memory."""
    from django.test.utils import override_settings

    from retell import Application
    from retell.django.checks import check_retell

    with override_settings(RETELL_DEFAULT_STORE=None):
        with Application() as app:
            assert type(app.factory).__module__ == "retell.django.factory"
        with Application(env={"PERSISTENCE_MODULE": "retell.memory"}) as app:
            assert type(app.factory).__module__ == "retell.memory"
    with override_settings(RETELL_DEFAULT_STORE="retell.memory"), Application() as app:
        assert type(app.factory).__module__ == "retell.memory"
    with override_settings(RETELL_DEFAULT_STORE="retell.nowhere"):
        assert "retell.E001" in [message.id for message in check_retell()]
