"""Workers: long-running processes that keep a system's followers caught up.

Start the same worker in as many processes as you like. For each follower, a
worker thread tries to take the follower's lease (see `retell.persistence.leases`):
the one that gets it processes, following each leader's log through the store's
subscription (LISTEN/NOTIFY on PostgreSQL, polling elsewhere); the others stand by
and try again every `takeover_interval` seconds, so when the active process dies
another takes over within about that long. Exactly-once does not rest on the lease
alone: a position is recorded with the follower's writes, and a second attempt at
it is refused by the store.

The holder asks whether it still holds its lease before each batch (each transaction
of a follower's, each run handed to a projection), when catching up as well as live,
and at least every `lease_check_interval` seconds when idle: the lease can be lost
while the process lives on (its connection cut, say), and a standby then takes it
within `takeover_interval`. So a worker that lost its lease runs at most the rest of
the batch in hand beside the new holder. It then stands by for `takeover_interval`
before asking again, which gives a standby that has been asking the first turn.

Projections (`retell.projection.ProjectionRunner`) run the same way, one lease each
(``retell-projection:NAME``, from the view's store). A rebuild takes the same lease,
so it never races a worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retell.errors import PolicyError, RetellError, RunnerError
from retell.persistence.leases import Lease
from retell.persistence.recorders import ApplicationRecorder, Subscription
from retell.projection import ProjectionRunner
from retell.system.definition import System
from retell.system.processing import ProcessApplication
from retell.system.runners import Runner

logger = logging.getLogger("retell.worker")


COUNT_LIMIT = 10_000
"""How many events a status counts at most behind a position; more show as ``10000+``."""


@dataclass(frozen=True)
class FollowerStatus:
    """Where a follower (or a projection: `kind`) stands in one leader's log.

    `behind`, when counted, is how many events of the leader's log after `position`
    it still has to process (of the topics it reads; up to COUNT_LIMIT + 1).
    """

    follower: str
    leader: str
    position: int
    leader_position: int
    state: str
    kind: str = "follower"
    behind: int | None = None

    @property
    def lag(self) -> int:
        """Events still to process: `behind` if counted, else the positions in between
        (the same in a log without gaps; more in one whose ids other logs share)."""
        if self.behind is not None:
            return self.behind
        return max(self.leader_position - self.position, 0)

    @property
    def lag_text(self) -> str:
        return f"{COUNT_LIMIT}+" if self.lag > COUNT_LIMIT else str(self.lag)

    def __str__(self) -> str:
        return (
            f"{self.follower} <- {self.leader}: at {self.position} of "
            f"{self.leader_position}, lag {self.lag_text} ({self.state})"
        )


def follower_lease(name: str) -> str:
    """The name of the lease that lets one worker at a time run the follower `name`."""
    return f"retell-follower:{name}"


def projection_lease(name: str) -> str:
    """The name of the lease of the projection `name`: held by a worker, or by a rebuild."""
    return f"retell-projection:{name}"


Work = Callable[[Callable[[], bool]], None]
"""What a worker thread does while it holds a lease, given a way to ask if it still does."""


class Worker(Runner):
    """Runs the followers named in `followers` (default: all), and `projections`, one
    lease each. The worker owns the projection runners: it stops and closes them.

    With `daemon`, its threads do not keep the process alive: for a worker inside a
    process that has its own way of ending (a development server, say).
    """

    takeover_interval = 1.0
    lease_check_interval = 1.0
    retry_delay = 1.0
    max_retry_delay = 60.0

    def __init__(
        self,
        system: System,
        env: Mapping[str, str] | None = None,
        followers: Sequence[str] | None = None,
        projections: Sequence[ProjectionRunner[Any]] = (),
        *,
        daemon: bool = False,
    ) -> None:
        # Checked before the applications are built, so that a mistake builds nothing.
        self.names = check_followers(system, followers)
        self.projections: dict[str, ProjectionRunner[Any]] = {}
        for runner in projections:
            name = runner.projection.name
            if name in self.projections or name in system.classes:
                raise RetellError(
                    f"two projections, or a projection and an application, are named {name!r}: "
                    "set a distinct `name` on the projection class"
                )
            self.projections[name] = runner
        self.daemon = daemon
        self.states: dict[str, str] = {}
        self.errors: list[BaseException] = []
        try:
            super().__init__(system, env)
        except BaseException:
            for runner in self.projections.values():
                runner.stop()  # the worker owns them, and will not run
            raise

    def _after_start(self) -> None:
        self._stopping = threading.Event()
        jobs: list[tuple[str, Lease, Work]] = []
        for name in self.names:
            follower = self.follower(name)
            lease = follower.factory.lease(follower_lease(name))
            jobs.append((name, lease, self._following(follower)))
        for name, runner in self.projections.items():
            lease = runner.factory.lease(projection_lease(name))
            jobs.append((name, lease, self._projecting(runner)))
        self._threads = [
            threading.Thread(
                target=self._hold, args=job, name=f"retell-worker-{job[0]}", daemon=self.daemon
            )
            for job in jobs
        ]
        for thread in self._threads:
            thread.start()

    def _hold(self, name: str, lease: Lease, work: Work) -> None:
        """Take the lease when it is free, and `work` while it is held."""
        delay = self.retry_delay
        self.states[name] = "standby"
        while not self._stopping.is_set():
            try:
                acquired = lease.acquire()
            except RetellError as error:  # the store is unreachable: ask again later
                logger.warning("%s: cannot ask for its lease (%s); retrying", name, error)
                acquired = False
            if not acquired:
                self._stopping.wait(self.takeover_interval)
                continue
            self.states[name] = "active"
            logger.info("%s: active", name)
            try:
                work(lease.is_held)
                delay = self.retry_delay
            except (PolicyError, RetellError) as error:
                self.errors.append(error)
                self.states[name] = "failing"
                logger.error("%s: %s; retrying in %.0f s", name, error, delay, exc_info=error)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.max_retry_delay)
            finally:
                lease.release()
            if self.states[name] == "active":  # the lease was lost: a standby's turn first
                self.states[name] = "standby"
                self._stopping.wait(self.takeover_interval)
        self.states[name] = "stopped"

    def _following(self, follower: ProcessApplication) -> Work:
        return lambda held: self._process_while_held(follower, held)

    def _projecting(self, runner: ProjectionRunner[Any]) -> Work:
        return lambda held: self._project_while_held(runner, held)

    def _project_while_held(self, runner: ProjectionRunner[Any], held: Callable[[], bool]) -> None:
        """Run the projection runner until stopped, the lease is lost, or it fails.

        The runner asks about the lease before each batch, so that it stops within one
        batch of losing it, even in the middle of a backlog.
        """
        proceed, lost = self._asking(held)
        runner.errors.clear()
        runner.start(proceed=proceed)
        try:
            while not runner.errors and proceed():
                self._stopping.wait(self.lease_check_interval)
        finally:
            runner.stop(close=False)
            if lost.is_set():
                logger.warning("%s: lease lost; standing by", runner.projection.name)
        if runner.errors:
            error = runner.errors[0]
            if isinstance(error, RetellError):
                raise error
            raise RunnerError(f"projection {runner.projection.name} failed: {error}") from error

    def _process_while_held(self, follower: ProcessApplication, held: Callable[[], bool]) -> None:
        """Follow every leader until stopped, the lease is lost, or processing fails.

        The lease is asked about before each batch, while catching up too: a worker
        whose lease was lost stops within one batch, not once it has caught up.
        """
        proceed, lost = self._asking(held)
        lock = threading.Lock()
        failures: list[BaseException] = []
        subscriptions: dict[str, Subscription] = {}
        threads: list[threading.Thread] = []

        def follow(name: str, notifications: Subscription) -> None:
            mapper = self.apps[name].mapper
            try:
                while page := notifications.take():  # all that came: recorded together
                    with lock:
                        follower.process_notifications(name, page, mapper, proceed=proceed)
                    if self._stopping.is_set() or lost.is_set():
                        return
            except BaseException as error:
                failures.append(error)

        try:
            for leader_name in self.system.follows[follower.name]:
                # Catch up (and check the position), then follow what comes after.
                follower.pull_and_process(leader_name, proceed=proceed)
                if self._stopping.is_set() or lost.is_set():
                    return
                subscriptions[leader_name] = self.apps[leader_name].recorder.subscribe(
                    gt=follower.recorder.max_tracking_id(leader_name),
                    topics=follower._topic_names,
                )
            for name, subscription in subscriptions.items():
                thread = threading.Thread(target=follow, args=(name, subscription), daemon=True)
                threads.append(thread)
                thread.start()
            while not failures and all(thread.is_alive() for thread in threads):
                if not proceed():
                    break
                self._stopping.wait(self.lease_check_interval)
        finally:
            for subscription in subscriptions.values():
                subscription.stop()
            for thread in threads:
                thread.join(timeout=30)
            if lost.is_set():
                logger.warning("%s: lease lost; standing by", follower.name)
        if failures:
            raise failures[0]

    def _asking(self, held: Callable[[], bool]) -> tuple[Callable[[], bool], threading.Event]:
        """Whether to go on (not stopping, and the lease still held), asked by the
        follower before each batch; and an event set once the lease was found lost.

        One question at a time: a lease's connection serves one thread at a time.
        """
        lock = threading.Lock()
        lost = threading.Event()

        def proceed() -> bool:
            if self._stopping.is_set() or lost.is_set():
                return False
            with lock:
                if not lost.is_set() and not held():
                    lost.set()
            return not lost.is_set()

        return proceed, lost

    def status(self, *, count: bool = False) -> list[FollowerStatus]:
        """Each follower's and projection's position, its leader's, and the lag between
        them; with `count`, the events behind are counted (a query each)."""
        return follower_status(self, self.names, self.states, count=count) + [
            projection_status(runner, self.states.get(name), count=count)
            for name, runner in self.projections.items()
        ]

    def _before_stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def stop(self) -> None:
        """Stop processing, then close the applications and the projection runners."""
        super().stop()
        for runner in self.projections.values():
            runner.stop()


def check_followers(system: System, names: Sequence[str] | None) -> list[str]:
    """The followers `names` of `system` (all of them when None or empty); an error
    naming those that are not its followers."""
    unknown = sorted(set(names or ()) - set(system.followers))
    if unknown:
        raise RetellError(
            f"{', '.join(unknown)}: not followers in this system; its followers are "
            f"{', '.join(system.followers)}"
        )
    return list(names or system.followers)


def follower_status(
    runner: Runner,
    names: Sequence[str],
    states: Mapping[str, str] | None = None,
    *,
    count: bool = False,
) -> list[FollowerStatus]:
    """The positions of the followers `names` of a started runner, one line per leader."""
    lines = []
    for name in names:
        follower = runner.follower(name)
        for leader_name in runner.system.follows[name]:
            leader = runner.apps[leader_name].recorder
            position = follower.recorder.max_tracking_id(leader_name) or 0
            lines.append(
                FollowerStatus(
                    name,
                    leader_name,
                    position,
                    leader.max_notification_id() or 0,
                    (states or {}).get(name, "not running here"),
                    behind=_behind(leader, position, follower._topic_names) if count else None,
                )
            )
    return lines


def projection_status(
    runner: ProjectionRunner[Any], state: str | None = None, *, count: bool = False
) -> FollowerStatus:
    """Where a projection's view stands in its application's log."""
    leader = runner.leader_name
    position = runner.view.max_tracking_id(leader) or 0
    recorder = runner.app.recorder
    return FollowerStatus(
        runner.projection.name,
        leader,
        position,
        recorder.max_notification_id() or 0,
        state or "not running here",
        kind="projection",
        behind=_behind(recorder, position, runner.topics) if count else None,
    )


def _behind(leader: ApplicationRecorder, position: int, topics: Sequence[str]) -> int:
    """The events of `topics` after `position`, counted up to COUNT_LIMIT + 1."""
    return len(leader.select_notifications(position + 1, COUNT_LIMIT + 1, topics=topics))
