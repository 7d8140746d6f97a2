"""Catching followers up with their leaders, for ``manage.py sync_followers``.

Why each choice:

- A runner that is not started yet is started with ``process=False``: its
  applications are built and wired, but nothing is processed on starting (a
  `SingleThreadedRunner` would otherwise drain every follower as it starts, a
  `MultiThreadedRunner` start threads), so all processing happens under the
  command's reporting and inside a dry run's transaction. A runner that is started
  already is used as it is.
- Events are recorded as `pull_and_process` records them, a batch of at most the
  follower's `batch_size` per transaction, so a failure keeps the work done before
  it and the follower resumes at the failed event. One transaction for everything
  would also hold back, on PostgreSQL, the settled horizon of every application's
  log for as long as it lasted.
- A dry run wraps each follower in one transaction on its store's alias, and rolls
  it back: only a follower on the Django store can be rolled back.
- In a system with cycles (a processing loop: ``[[Orders, Reservations, Orders]]``)
  one pass leaves what the pass itself produced, so the followers are run again,
  in rounds, until a round processes nothing. Not in a dry run, whose rounds would
  find the same events again, as each round's work is rolled back.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Self

from django.db import transaction

from retell.errors import ConfigurationError, PolicyError, RetellError
from retell.system import ProcessApplication, Runner


@dataclass
class FollowerResult:
    """What happened to one follower: events processed per leader, and any error."""

    follower: str
    dry_run: bool
    by_leader: dict[str, int] = field(default_factory=dict)
    error: BaseException | None = None
    traceback: str = ""

    @property
    def processed(self) -> int:
        return sum(self.by_leader.values())

    def describe_error(self) -> str:
        """The failing event and its position where known (a policy's failure)."""
        error = self.error
        if isinstance(error, PolicyError):
            return (
                f"{self.follower} failed at position {error.position} of {error.leader}, "
                f"event {type(error.event).__qualname__} "
                f"(aggregate {getattr(error.event, 'originator_id', '?')} version "
                f"{getattr(error.event, 'originator_version', '?')}): "
                f"{type(error.__cause__).__name__}: {error.__cause__}"
            )
        return f"{self.follower} failed: {type(error).__name__}: {error}"


class _RolledBack(Exception):
    """Raised inside a dry run's transaction to roll it back."""


class Synchronizer:
    """Catches up `names` (default: all followers of `runner`'s system), in pipe order."""

    def __init__(self, runner: Runner, names: Sequence[str] = (), *, dry_run: bool = False) -> None:
        system = runner.system
        unknown = [name for name in names if name not in system.followers]
        if unknown:
            raise ConfigurationError(
                f"no follower named {', '.join(map(repr, unknown))} in the system; its "
                f"followers are {', '.join(system.followers) or 'none'}"
            )
        wanted = set(names)
        self.followers = [n for n in system.followers if not wanted or n in wanted]
        self.runner = runner
        self.dry_run = dry_run

    def __enter__(self) -> Self:
        if not self.runner.is_started:
            self.runner.start(process=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass  # the runner stays started, as the project may go on using it

    def run_all(self) -> list[FollowerResult]:
        """Every follower, in order, in rounds while a system with cycles has work left.

        A follower that failed is not run again: its result keeps the failure.
        """
        results = {name: FollowerResult(name, self.dry_run) for name in self.followers}
        again = True
        while again:
            again = False
            for name, result in results.items():
                if result.error is not None:
                    continue
                this = self.run(name)
                for leader, count in this.by_leader.items():
                    result.by_leader[leader] = result.by_leader.get(leader, 0) + count
                result.error, result.traceback = this.error, this.traceback
                again = again or this.processed > 0
            again = again and self.runner.system.has_cycles and not self.dry_run
        return list(results.values())

    def run(self, name: str) -> FollowerResult:
        """Catch `name` up with each of its leaders; a failure is returned, not raised."""
        runner = self.runner
        follower = runner.follower(name)
        result = FollowerResult(name, self.dry_run)
        try:
            with self._transaction(follower):
                for leader in runner.system.follows[name]:
                    result.by_leader[leader] = 0

                    def count(recorded: int, leader: str = leader) -> None:
                        result.by_leader[leader] += recorded

                    follower.pull_and_process(leader, on_recorded=count)
        except _RolledBack:
            pass
        except Exception as error:  # reported, and the other followers still run
            result.error = error
            result.traceback = "".join(traceback.format_exception(error))
        return result

    @contextmanager
    def _transaction(self, follower: ProcessApplication) -> Iterator[None]:
        if not self.dry_run:
            yield
            return
        alias = getattr(follower.recorder, "alias", None)
        if alias is None:
            raise RetellError(
                f"{follower.name} does not use the Django store (PERSISTENCE_MODULE="
                "retell.django), so --dry-run could not roll its changes back: it was not run."
            )
        with transaction.atomic(using=alias):
            yield
            raise _RolledBack
