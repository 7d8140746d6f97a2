"""``manage.py rebuild_projection NAME``: empty a projection's view and replay every event.

It takes the projection's lease first, the one a worker holds while it runs the
projection, so a rebuild never races a worker (which would record positions the
rebuild then takes for done). With a worker running the projection, it refuses and
says to stop the worker; the worker carries on from the rebuilt view when started
again. Progress goes to stderr as a text bar; the count to stdout.

A failing event stops the rebuild: the view then holds every event before it, and
the error names the event and its position.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from retell.django.console import ProgressBar
from retell.django.workers import close, projection_runners
from retell.errors import PolicyError, RetellError
from retell.projection import ProjectionRunner
from retell.system.worker import projection_lease


class Command(BaseCommand):
    help = "Empty a projection's view and replay every event of its application into it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="the projection's name (its class's `name`)")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        runner = _find(name)
        lease = runner.factory.lease(projection_lease(name))
        try:
            if not lease.acquire():
                raise CommandError(
                    f"{name} is being run by a worker (manage.py run_followers, or a server "
                    "that runs it in-process): stop it, rebuild, then start it again."
                )
            try:
                count = self._rebuild(runner, options["verbosity"])
            finally:
                lease.release()
        finally:
            runner.stop()
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Rebuilt {name}: {count} event{'' if count == 1 else 's'} processed."
            )

    def _rebuild(self, runner: ProjectionRunner[Any], verbosity: int) -> int:
        name = runner.projection.name
        try:
            first = runner.app.recorder.select_notifications(None, 1, topics=runner.topics)
            start = first[0].id - 1 if first else 0
            progress = ProgressBar(self.stderr, start, f"{name} ") if verbosity >= 1 else None
            return runner.rebuild(progress=progress)
        except PolicyError as error:
            raise CommandError(
                f"the rebuild stopped: {error}. The view holds the events before position "
                f"{error.position}; fix the cause, then rebuild again (or let run_followers "
                "carry on from there)."
            ) from error
        except Exception as error:
            raise CommandError(
                f"the rebuild of {name} failed: {type(error).__name__}: {error}"
            ) from error


def _find(name: str) -> ProjectionRunner[Any]:
    """The configured projection `name`; the others are closed."""
    try:
        runners = projection_runners()
    except RetellError as error:
        raise CommandError(str(error)) from error
    found = [runner for runner in runners if runner.projection.name == name]
    close(runner for runner in runners if runner not in found)
    if not found:
        names = ", ".join(runner.projection.name for runner in runners)
        raise CommandError(
            f"no projection named {name!r}: "
            + (f"the projections are {names}." if names else "RETELL_PROJECTIONS names none.")
        )
    return found[0]
