"""The projection `Tally` (dogs and their trick counts, as Django rows) and the system.

For the tests of killed workers, the handler can be slowed down and can log each
event it starts, from the environment (read at each event, so a test's subprocess
sets them):

- ``KENNEL_LOG``: a file; the handler appends ``"<pid> <event identity>"`` before
  its transaction commits, so an event logged twice was started twice.
- ``KENNEL_DELAY``: seconds the handler sleeps after writing, inside the transaction.

The trick ``"explode"`` makes the handler raise.
"""

from __future__ import annotations

import os
import time
from functools import singledispatchmethod
from typing import Any

from django.db.models import F

from retell.django.projections import DjangoProjection, DjangoView
from retell.domain.events import DomainEvent
from retell.projection import ProjectionRunner
from retell.system import SingleThreadedRunner, System
from tests.django_commands.kennel.models import TrickTally
from tests.test_system import Dog, TrainingSchool
from tests.worker_system import system

ENV = {"PERSISTENCE_MODULE": "retell.django"}


class TallyView(DjangoView):
    models = (TrickTally,)

    def tricks(self) -> dict[str, int]:
        return {
            row.name: row.tricks for row in TrickTally.objects.using(self.alias).order_by("name")
        }


class Tally(DjangoProjection[TallyView]):
    topics = (Dog.Registered, Dog.TrickAdded)

    @singledispatchmethod
    def handle(self, domain_event: DomainEvent) -> None:
        raise AssertionError(f"not among the topics: {domain_event!r}")

    @handle.register
    def _(self, domain_event: Dog.Registered) -> None:
        name: str = domain_event.name  # type: ignore[attr-defined]
        TrickTally.objects.using(self.alias).create(dog_id=domain_event.originator_id, name=name)

    @handle.register
    def _(self, domain_event: Dog.TrickAdded) -> None:
        if domain_event.trick == "explode":  # type: ignore[attr-defined]
            raise ValueError("this trick cannot be counted")
        TrickTally.objects.using(self.alias).filter(dog_id=domain_event.originator_id).update(
            tricks=F("tricks") + 1
        )
        _log_and_wait(domain_event)


def _log_and_wait(domain_event: Any) -> None:
    log = os.environ.get("KENNEL_LOG")
    if log:
        with open(log, "a") as file:
            file.write(f"{os.getpid()} {domain_event.identity}\n")
    delay = float(os.environ.get("KENNEL_DELAY", "0"))
    if delay:
        time.sleep(delay)


def tally() -> ProjectionRunner[TallyView]:
    """For RETELL_PROJECTIONS."""
    return ProjectionRunner(TrainingSchool, Tally, TallyView, env=ENV)


def get_runner() -> SingleThreadedRunner:
    """For RETELL_RUNNER: TrainingSchool, followed by Counters (tests.worker_system)."""
    return SingleThreadedRunner(system, env=ENV)


def not_a_runner() -> str:
    """For a bad RETELL_PROJECTIONS entry."""
    return "a string"


def runner_without_followers() -> SingleThreadedRunner:
    """For RETELL_RUNNER: a system of one application, which nothing follows."""
    return SingleThreadedRunner(System(pipes=[[TrainingSchool]]), env=ENV)
