"""``manage.py run_followers [name ...] [--status-interval SECONDS]``.

A long-running worker that keeps the project's followers (from the runner that
``sync_followers`` finds) and projections (``RETELL_PROJECTIONS``) caught up, all of
them or those named. Start it in as many processes as you like: each follower and
projection is run by one process at a time, the one that holds its lease (see
`retell.system.worker` and `retell.django.leases`); the others stand by and take
over within about a second when it dies.

SIGTERM or SIGINT (Ctrl-C) stops it cleanly: the run of events in hand is finished
or not started, never half-recorded, and the exit status is 0. SIGUSR1, and
``--status-interval``, print the status table (as ``retell_status`` does).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from retell.django.console import status_table
from retell.django.workers import select
from retell.errors import RetellError
from retell.system.worker import Worker


class Command(BaseCommand):
    help = (
        "Keep followers and projections caught up until stopped (SIGTERM or Ctrl-C). "
        "Safe to run in several processes at once: each one is run by one process at a time."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "names",
            metavar="name",
            nargs="*",
            help="followers and projections to run (default: all)",
        )
        parser.add_argument(
            "--status-interval",
            type=float,
            default=None,
            metavar="SECONDS",
            help="print the status table every SECONDS (also on SIGUSR1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _log_to_stderr(options["verbosity"])
        try:
            selection = select(options["names"])
        except RetellError as error:
            raise CommandError(str(error)) from error
        if not selection.followers and not selection.projections:
            raise CommandError(
                "nothing to run: the runner's system has no followers, and RETELL_PROJECTIONS "
                "names no projections"
            )
        worker = selection.worker()
        stop = threading.Event()
        with _signals(stop, lambda: self._status(worker)):
            worker.start()
            try:
                if options["verbosity"] >= 1:
                    self.stdout.write(
                        f"Worker {os.getpid()} running followers: "
                        f"{', '.join(selection.followers) or 'none'}; projections: "
                        f"{', '.join(selection.projection_names) or 'none'}. "
                        "Stop it with SIGTERM or Ctrl-C."
                    )
                    self.stdout.flush()  # a log file should say so now, not when a buffer fills
                while not stop.wait(options["status_interval"]):
                    self._status(worker)
            finally:
                worker.stop()
        if options["verbosity"] >= 1:
            self.stdout.write(f"Worker {os.getpid()} stopped.")

    def _status(self, worker: Worker) -> None:
        try:
            lines = status_table(worker.status(count=True))
        except RetellError as error:  # the database is away: say so, and keep working
            lines = [f"status unavailable: {error}"]
        for line in lines:
            self.stdout.write(line)
        self.stdout.flush()


@contextmanager
def _signals(stop: threading.Event, status: Any) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`; SIGUSR1 calls `status`. The old handlers come back after."""

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_status(signum: int, frame: FrameType | None) -> None:
        status()

    handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGUSR1: on_status}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _log_to_stderr(verbosity: int) -> None:
    """Show the worker's log (takeovers, failures) unless the project's LOGGING does."""
    logger = logging.getLogger("retell")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbosity >= 2 else logging.WARNING)
