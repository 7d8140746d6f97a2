"""Helpers of the worker commands' tests: clean databases, commands in-process and in
subprocesses, and waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connections

from tests.django import services
from tests.django.helpers import env, forget
from tests.django_commands.kennel.models import TrickTally
from tests.test_system import TrainingSchool

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("TrainingSchool", "Counters", "Tally")
_migrated: set[str] = set()


def clean(alias: str) -> None:
    """The alias's test database, migrated with the kennel app, without our records."""
    services.prepare(alias)
    if alias not in _migrated:
        call_command("migrate", "kennel", database=alias, verbosity=0)
        _migrated.add(alias)
    forget(alias, NAMES)
    TrickTally.objects.using(alias).all().delete()


def school(alias: str = "default") -> Any:
    """The leader, on `alias`: its events are what the follower and projection process."""
    return TrainingSchool(env=env(alias))


def command(name: str, *args: str, **options: Any) -> tuple[str, str]:
    """Run a management command in this process; its stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err, no_color=True, **options)
    return out.getvalue(), err.getvalue()


def manage(alias: str, *args: str, **env_vars: str) -> subprocess.Popen[str]:
    """``django-admin ARGS`` in a subprocess, on this process's test database for `alias`."""
    names = {alias: str(connections[alias].settings_dict["NAME"])}
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
            "DJANGO_SETTINGS_MODULE": "tests.django_commands.settings",
            "RETELL_DJANGO_TEST_DIR": str(
                Path(connections["default"].settings_dict["NAME"]).parent
            ),
            "KENNEL_DATABASES": json.dumps(names),
            "DJANGO_DB_ALIAS": alias,
            **env_vars,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.02)


def lines(path: Path) -> list[tuple[int, str]]:
    """The (pid, what) lines a follower or the projection logged."""
    if not path.exists():
        return []
    rows = (line.split()[:2] for line in path.read_text().splitlines() if line.strip())
    return [(int(pid), what) for pid, what in rows]
