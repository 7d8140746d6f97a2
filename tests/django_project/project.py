"""A Django project, written to a directory as a user would write it, and its own tests.

The project ("kennelsite", with the app "pets") saves events with retell's Django
store, projects them into a model, has a follower, and a page that saves. Its
``pets/tests.py`` is what a user's tests of such a project look like: no teardown of
retell's own, only `retell.django.testing` where a test must run a projection or the
followers to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = """\
import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "not secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "kennelsite.urls"
USE_TZ = True
STATIC_URL = "/static/"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "retell.django",
    "pets",
]
DATABASES = json.loads(os.environ["KENNELSITE_DATABASES"])
RETELL = {"PERSISTENCE_MODULE": "retell.django"}
RETELL_RUNNER = "pets.runner"
RETELL_PROJECTIONS = ["pets.projections.tally"]
"""

FILES = {
    "manage.py": """\
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennelsite.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
        """,
    "kennelsite/__init__.py": "",
    "kennelsite/urls.py": """\
        from django.urls import path

        from pets import views

        urlpatterns = [path("register/<str:name>", views.register)]
        """,
    "pets/__init__.py": "",
    "pets/apps.py": """\
        from django.apps import AppConfig


        class PetsConfig(AppConfig):
            name = "pets"

            def ready(self):
                from retell.system import SingleThreadedRunner

                from pets.domain import system

                self.runner = SingleThreadedRunner(system)
        """,
    "pets/domain.py": """\
        from functools import singledispatchmethod

        from uuid import NAMESPACE_URL, uuid5

        from retell import AggregateNotFound, Aggregate, Application, event
        from retell.system import ProcessApplication, System


        class Dog(Aggregate):
            @event("Registered")
            def __init__(self, name):
                self.name = name
                self.tricks = []

            @event("TrickAdded")
            def add_trick(self, trick):
                self.tricks.append(trick)


        class School(Application):
            def register(self, name, *tricks):
                dog = Dog(name)
                for trick in tricks:
                    dog.add_trick(trick)
                return self.save(dog)[-1].notification_id


        class Tricks(Aggregate):
            @staticmethod
            def create_id():
                return uuid5(NAMESPACE_URL, "/tricks")

            @event("Started")
            def __init__(self):
                self.count = 0

            @event("Counted")
            def count_one(self):
                self.count += 1


        class Counters(ProcessApplication):
            \"\"\"Counts every trick learnt, in one aggregate.\"\"\"

            @singledispatchmethod
            def policy(self, domain_event, processing_event):
                pass

            @policy.register
            def _(self, domain_event: Dog.TrickAdded, processing_event):
                try:
                    tricks = self.repository.get(Tricks.create_id())
                except AggregateNotFound:
                    tricks = Tricks()
                tricks.count_one()
                processing_event.collect_events(tricks)

            def total(self):
                return self.repository.get(Tricks.create_id()).count


        system = System(pipes=[[School, Counters]])
        """,
    "pets/models.py": """\
        from django.db import models


        class Tally(models.Model):
            dog_id = models.UUIDField(primary_key=True)
            name = models.CharField(max_length=100)
            tricks = models.PositiveIntegerField(default=0)
        """,
    "pets/migrations/__init__.py": "",
    "pets/migrations/0001_initial.py": """\
        from django.db import migrations, models


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Tally",
                    fields=[
                        ("dog_id", models.UUIDField(primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=100)),
                        ("tricks", models.PositiveIntegerField(default=0)),
                    ],
                ),
            ]
        """,
    "pets/projections.py": """\
        from functools import singledispatchmethod

        from django.db.models import F

        from pets.domain import Dog, School
        from pets.models import Tally
        from retell.django.projections import DjangoProjection, DjangoView
        from retell.projection import ProjectionRunner


        class TallyView(DjangoView):
            models = (Tally,)


        class TallyProjection(DjangoProjection[TallyView]):
            name = "Tally"
            topics = (Dog.Registered, Dog.TrickAdded)

            @singledispatchmethod
            def handle(self, domain_event):
                pass

            @handle.register
            def _(self, domain_event: Dog.Registered):
                Tally.objects.using(self.alias).create(
                    dog_id=domain_event.originator_id, name=domain_event.name
                )

            @handle.register
            def _(self, domain_event: Dog.TrickAdded):
                Tally.objects.using(self.alias).filter(dog_id=domain_event.originator_id).update(
                    tricks=F("tricks") + 1
                )


        def tally():
            return ProjectionRunner(School, TallyProjection, TallyView)
        """,
    "pets/views.py": """\
        from django.http import JsonResponse

        from pets.domain import School


        def register(request, name):
            with School() as school:
                position = school.register(name, "sit")
            return JsonResponse({"position": position})
        """,
    "pets/tests.py": """\
        import json
        from urllib.request import urlopen

        from django.apps import apps
        from django.test import LiveServerTestCase, TestCase, TransactionTestCase

        from pets.domain import Counters, School
        from pets.models import Tally
        from pets.projections import tally
        from retell.django.testing import catch_up


        def tallies():
            return list(Tally.objects.order_by("name").values_list("name", "tricks"))


        class SavingTests(TestCase):
            def test_an_event_is_saved_in_the_tests_transaction(self):
                with School() as school:
                    school.register("Fido", "sit")


        class SavingInTransactionTests(TransactionTestCase):
            def test_an_event_is_saved(self):
                with School() as school:
                    position = school.register("Fido", "sit")
                    self.assertEqual(school.recorder.max_notification_id(), position)


        class ProjectionInAThreadTests(TransactionTestCase):
            def test_the_projection_follows_the_log(self):
                with tally() as runner:
                    runner.wait(runner.app.register("Fido", "sit", "roll"))
                    runner.wait(runner.app.register("Rex"))
                self.assertEqual(tallies(), [("Fido", 2), ("Rex", 0)])

            def test_again_from_an_empty_database(self):
                with tally() as runner:
                    runner.wait(runner.app.register("Ace", "beg"))
                self.assertEqual(tallies(), [("Ace", 1)])


        class CaughtUpTests(TransactionTestCase):
            def test_a_projection_caught_up_in_the_test(self):
                runner = tally()
                runner.app.register("Fido", "sit")
                self.assertEqual(catch_up(runner), 2)
                self.assertEqual(tallies(), [("Fido", 1)])
                runner.stop()

            def test_the_followers_caught_up_in_the_test(self):
                runner = apps.get_app_config("pets").runner
                with School() as school:
                    school.register("Fido", "sit", "roll")
                catch_up(runner)
                self.assertEqual(runner.get(Counters).total(), 2)

            def test_the_projects_followers_and_projections(self):
                with School() as school:
                    school.register("Rex", "sit")
                catch_up()
                self.assertEqual(tallies(), [("Rex", 1)])
                runner = apps.get_app_config("pets").runner
                self.assertEqual(runner.get(Counters).total(), 1)


        class PageTests(LiveServerTestCase):
            def test_a_page_saves_and_the_projection_shows_it(self):
                with tally() as runner:
                    with urlopen(f"{self.live_server_url}/register/Fido") as response:
                        position = json.load(response)["position"]
                    runner.wait(position)
                self.assertEqual(tallies(), [("Fido", 1)])
        """,
}


def write(directory: Path, databases: dict[str, object]) -> Path:
    """Write the project into `directory`; `databases` becomes its ``DATABASES``."""
    for name, text in FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    (directory / "kennelsite" / "settings.py").write_text(SETTINGS)
    (directory / "databases.json").write_text(json.dumps(databases))
    return directory


def manage(directory: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` in the project, with this virtualenv's Python."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    environment["KENNELSITE_DATABASES"] = (directory / "databases.json").read_text()
    environment["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
