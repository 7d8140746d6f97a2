"""``manage.py retell_status [name ...]``: where each follower and projection stands.

A table, one row per follower and leader, and per projection: its position in the
leader's log, the leader's last position, the lag (the events after the position,
of the topics it reads, counted: the Django store's positions have gaps, as one
sequence serves every application), and whether a worker runs it now (its lease is
held) or not. It processes nothing.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from retell.django.console import status_table
from retell.django.workers import Selection, close, lease_state, select
from retell.errors import RetellError
from retell.system import Runner
from retell.system.worker import (
    FollowerStatus,
    follower_lease,
    follower_status,
    projection_lease,
    projection_status,
)


class Command(BaseCommand):
    help = "Show each follower's and projection's position, its leader's, and the lag."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "names", metavar="name", nargs="*", help="followers and projections (default: all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            selection = select(options["names"])
        except RetellError as error:
            raise CommandError(str(error)) from error
        try:
            rows = _rows(selection)
        except RetellError as error:
            raise CommandError(str(error)) from error
        finally:
            close(selection.projections)
        if not rows:
            self.stdout.write("No followers or projections.")
        for line in status_table(rows):
            self.stdout.write(line)


def _rows(selection: Selection) -> list[FollowerStatus]:
    rows: list[FollowerStatus] = []
    with Runner(selection.system, selection.env) as runner:
        states = {
            name: lease_state(runner.follower(name).factory.lease(follower_lease(name)))
            for name in selection.followers
        }
        rows += follower_status(runner, selection.followers, states, count=True)
    for projection in selection.projections:
        name = projection.projection.name
        state = lease_state(projection.factory.lease(projection_lease(name)))
        rows.append(projection_status(projection, state, count=True))
    return rows
