"""The factory: what it needs (Django set up, a known alias), and what it makes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.test.utils import override_settings

from retell import Application
from retell.config import Environment
from retell.django import Factory
from retell.django.recorders import (
    DjangoAggregateRecorder,
    DjangoApplicationRecorder,
    DjangoProcessRecorder,
    DjangoTrackingRecorder,
)
from retell.errors import ConfigurationError
from retell.memory import MemoryTrackingRecorder
from retell.persistence.records import Tracking
from retell.system import ProcessApplication
from tests.django import services
from tests.django.helpers import env
from tests.django.shop.domain import TrainingSchool

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new interpreter, without DJANGO_SETTINGS_MODULE unless given."""
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **environ},
        check=False,
    )


def test_importing_the_store_needs_no_settings_and_loads_no_models() -> None:
    result = run_python(
        """
        import sys
        import retell.django
        assert retell.django.Factory
        loaded = [m for m in sys.modules if m.startswith(("retell.django.", "django.db.models"))]
        assert "retell.django.models" not in loaded, loaded
        assert "retell.django.recorders" not in loaded, loaded
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_constructing_before_django_is_set_up_says_how_to_set_it_up() -> None:
    result = run_python(
        """
        from retell import Application
        from retell.errors import ConfigurationError
        try:
            Application(env={"PERSISTENCE_MODULE": "retell.django"})
        except ConfigurationError as error:
            print(error)
        """
    )
    assert "DJANGO_SETTINGS_MODULE" in result.stdout, result.stderr
    assert "django.setup()" in result.stdout


def test_an_unknown_alias_is_named_with_the_aliases_that_exist() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Application(env=env("nope"))
    message = str(raised.value)
    assert "DJANGO_DB_ALIAS='nope'" in message
    assert "'default', 'plain_sqlite'" in message


def test_a_prefixed_alias_wins() -> None:
    app = TrainingSchool(env={**env("default"), "TRAININGSCHOOL_DJANGO_DB_ALIAS": "plain_sqlite"})
    assert app.factory.alias == "plain_sqlite"  # type: ignore[attr-defined]


def test_the_factory_makes_recorders_for_the_application() -> None:
    app = TrainingSchool(env=env())
    factory = app.factory
    assert isinstance(factory, Factory)
    assert isinstance(app.recorder, DjangoApplicationRecorder)
    assert app.recorder.application_name == "TrainingSchool"
    assert app.snapshots is not None
    assert type(app.snapshots.recorder) is DjangoAggregateRecorder
    assert app.snapshots.recorder.table == "retell_snapshots"
    assert isinstance(factory.process_recorder(), DjangoProcessRecorder)
    assert isinstance(factory.tracking_recorder(), DjangoTrackingRecorder)


def test_a_process_application_gets_a_process_recorder() -> None:
    class Follower(ProcessApplication):
        pass

    assert isinstance(Follower(env=env()).recorder, DjangoProcessRecorder)


class LeaderboardView(DjangoTrackingRecorder):
    """A view: its own writes and its tracking in one transaction."""

    def record(self, tracking: Tracking) -> None:
        with self.transaction():
            self.insert_tracking(tracking)


def test_tracking_recorder_accepts_a_view_class() -> None:
    services.prepare("default")
    factory = Factory(Environment(f"Board{os.getpid()}", env()))
    view = factory.tracking_recorder(LeaderboardView)
    assert isinstance(view, LeaderboardView)
    view.delete_tracking("Leader")
    view.record(Tracking("Leader", 3))
    assert view.max_tracking_id("Leader") == 3
    view.delete_tracking("Leader")
    assert view.max_tracking_id("Leader") is None


def test_a_view_of_another_store_is_refused() -> None:
    class MemoryView(MemoryTrackingRecorder):
        pass

    factory = Application(env=env()).factory
    with pytest.raises(ConfigurationError, match="DjangoTrackingRecorder"):
        factory.tracking_recorder(MemoryView)


def test_a_name_too_long_for_the_tables_is_refused() -> None:
    cls = type("Long", (Application,), {"name": "N" * 101})
    with pytest.raises(ConfigurationError, match="100 characters"):
        cls(env=env())


def test_settings_retell_is_read_under_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    retell = {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": "plain_sqlite"}
    with override_settings(RETELL=retell):
        assert Application().factory.alias == "plain_sqlite"  # type: ignore[attr-defined]
        monkeypatch.setenv("DJANGO_DB_ALIAS", "default")
        assert Application().factory.alias == "default"  # type: ignore[attr-defined]
        app = Application(env={"DJANGO_DB_ALIAS": "unmigrated"})
        assert app.factory.alias == "unmigrated"  # type: ignore[attr-defined]
    with override_settings(RETELL={"IS_SNAPSHOTTING_ENABLED": True, "AGGREGATE_CACHE_MAXSIZE": 5}):
        app = Application(env={"PERSISTENCE_MODULE": "retell.memory"})
        assert app.env["IS_SNAPSHOTTING_ENABLED"] == "y"
        assert app.env["AGGREGATE_CACHE_MAXSIZE"] == "5"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no such table: retell_events", "ProgrammingError"),  # SQLite
        ("(1146, \"Table 'test.retell_tracking' doesn't exist\")", "ProgrammingError"),  # MySQL
        ('relation "retell_events" does not exist', "ProgrammingError"),  # PostgreSQL
        ("function retell_settled_horizon(regclass) does not exist", "ProgrammingError"),
        ("server closed the connection unexpectedly", "OperationalError"),
    ],
)
def test_database_errors_become_retells(text: str, expected: str) -> None:
    from django import db

    from retell.django.errors import translate

    cls = db.ProgrammingError if expected == "ProgrammingError" else db.OperationalError
    error = translate(cls(text), "events")
    assert type(error).__name__ == expected
    if expected == "ProgrammingError":
        assert "manage.py migrate --database=events" in str(error)
