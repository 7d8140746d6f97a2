"""Settings of the worker commands' tests: tests/admin's (a superset of tests/django's) and
the kennel app.

In the test process, the settings of whichever test package set Django up first are
in force (Django is set up once per process), so the tests add the kennel app, and
the worker settings below, with override_settings (see conftest.py). A command run
in a subprocess uses this module with ``KENNEL_DATABASES`` (JSON: alias -> database
name, the test process's test databases), and then has the worker settings too.
"""

from __future__ import annotations

import json
import os

from tests.admin.settings import *  # noqa: F403
from tests.admin.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.django_commands.kennel"]

WORKER_SETTINGS = {
    "RETELL_RUNNER": "tests.django_commands.kennel.projections.get_runner",
    "RETELL_PROJECTIONS": ["tests.django_commands.kennel.projections.tally"],
}

if os.environ.get("KENNEL_DATABASES"):
    for _alias, _name in json.loads(os.environ["KENNEL_DATABASES"]).items():
        DATABASES[_alias]["NAME"] = DATABASES[_alias]["TEST"]["NAME"] = _name  # type: ignore[index]
    RETELL_RUNNER = WORKER_SETTINGS["RETELL_RUNNER"]
    RETELL_PROJECTIONS = WORKER_SETTINGS["RETELL_PROJECTIONS"]
