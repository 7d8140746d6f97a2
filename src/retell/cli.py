"""The command line: ``python -m retell run|status SYSTEM``.

``run`` starts a `Worker` for a system's followers and keeps it running until
SIGTERM or SIGINT, then stops cleanly (the current event finishes, nothing is
half-recorded). SIGUSR1 prints each follower's position and lag to stderr, as does
``--status-interval``. ``status`` prints the same lines once and exits.

SYSTEM is ``package.module:attribute``: a `System`, or a function that returns one.
Settings come from the environment, and ``--env KEY=VALUE`` adds or overrides them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from retell.errors import RetellError
from retell.system.definition import System
from retell.system.runners import Runner
from retell.system.worker import Worker, check_followers, follower_status
from retell.topics import resolve_topic


def load_system(path: str) -> System:
    """The System that `path` names (``module:attribute``), calling it if it is a factory."""
    target = resolve_topic(path)
    if not isinstance(target, System) and callable(target):
        target = target()
    if not isinstance(target, System):
        raise RetellError(f"{path} is a {type(target).__name__}, not a retell.system.System")
    return target


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env = dict(os.environ)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RetellError(f"--env {pair!r}: write it as KEY=VALUE")
        env[key] = value
    return env


def print_status(worker: Worker) -> None:
    for line in worker.status():
        print(line, file=sys.stderr, flush=True)


def run(worker: Worker, status_interval: float | None) -> None:
    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_status(signum: int, frame: FrameType | None) -> None:
        print_status(worker)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_status)
    worker.start()
    logging.getLogger("retell.worker").info("worker started for %s", ", ".join(worker.names))
    try:
        while not stop.wait(status_interval):
            print_status(worker)
    finally:
        worker.stop()
    logging.getLogger("retell.worker").info("worker stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retell", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in [("run", "run followers until stopped"), ("status", "print positions")]:
        command = commands.add_parser(name, help=text)
        command.add_argument("system", help="package.module:attribute naming a System")
        command.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
        command.add_argument(
            "--follower", action="append", metavar="NAME", help="only this follower (repeatable)"
        )
        command.add_argument("--log-level", default="INFO")
    commands.choices["run"].add_argument(
        "--status-interval", type=float, default=None, metavar="SECONDS"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        system, env = load_system(args.system), parse_env(args.env)
        if args.command == "status":
            names = check_followers(system, args.follower)
            with Runner(system, env) as runner:
                for line in follower_status(runner, names):
                    print(line)
        else:
            run(Worker(system, env, args.follower), args.status_interval)
    except RetellError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
