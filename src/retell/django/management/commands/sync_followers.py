"""``manage.py sync_followers [-n/--dry-run] [-v {0,1,2,3}] [follower ...]``.

Catches up the named followers (all when none is named) with all their leaders,
in the order of the system's pipes (leaders before followers; a system with a
processing loop in rounds, until nothing is left), and says how many events each
processed. The work is done by `retell.django.sync`; this module is
only the command line.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from retell.django.runner import find_runner
from retell.django.sync import FollowerResult, Synchronizer
from retell.errors import RetellError


class Command(BaseCommand):
    help = (
        "Process the events that followers have not processed yet, from all their leaders "
        "(all followers of the runner's system, or those named)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "followers", metavar="follower", nargs="*", help="followers to catch up (default: all)"
        )
        parser.add_argument(
            "-n",
            "--dry-run",
            action="store_true",
            help="process everything, then roll it all back (one transaction per follower)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        dry_run: bool = options["dry_run"]
        try:
            runner = find_runner()
        except RetellError as error:
            raise CommandError(str(error)) from error
        try:
            sync = Synchronizer(runner, options["followers"], dry_run=dry_run)
        except RetellError as error:
            raise CommandError(str(error)) from error
        if verbosity >= 1 and dry_run:
            self.stdout.write(self.style.WARNING("Dry run: every change will be rolled back."))
        with sync:
            results = [self._report(result, verbosity) for result in sync.run_all()]
        failed = [r.follower for r in results if r.error is not None]
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(results)} followers failed: {', '.join(failed)}"
                + ("" if verbosity >= 2 else " (run with -v 2 for the event and position)")
            )

    def _report(self, result: FollowerResult, verbosity: int) -> FollowerResult:
        """Say what happened to one follower, in as much detail as `verbosity` asks."""
        if verbosity >= 1:
            label = self.style.MIGRATE_LABEL(result.follower)
            if result.error is None:
                outcome = self.style.SUCCESS("OK") + (" (rolled back)" if result.dry_run else "")
                self.stdout.write(f"{label}: {outcome}, {_events(result.processed)} processed")
            else:
                self.stdout.write(
                    f"{label}: {self.style.ERROR('FAILED')} after "
                    f"{_events(result.processed)} processed"
                )
        if verbosity >= 2:
            for leader, count in result.by_leader.items():
                self.stdout.write(f"  from {leader}: {_events(count)}")
        if result.error is not None:
            if verbosity >= 2:
                self.stderr.write(f"  {result.describe_error()}")
            if verbosity >= 3 and result.traceback:
                self.stderr.write(result.traceback)
        return result


def _events(count: int) -> str:
    return f"{count} event{'' if count == 1 else 's'}"
