"""Workers: long-running processes that keep a system's followers caught up.

Start the same worker in as many processes as you like. For each follower, a
worker thread tries to take the follower's lease (see `retell.persistence.leases`):
the one that gets it processes, following each leader's log through the store's
subscription (LISTEN/NOTIFY on PostgreSQL, polling elsewhere); the others stand by
and try again every `takeover_interval` seconds, so when the active process dies
another takes over within about that long. Exactly-once does not rest on the lease
alone: a position is recorded with the follower's writes, and a second attempt at
it is refused by the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from retell.errors import PolicyError, RetellError
from retell.persistence.recorders import Subscription
from retell.system.definition import System
from retell.system.processing import ProcessApplication
from retell.system.runners import Runner

logger = logging.getLogger("retell.worker")


@dataclass(frozen=True)
class FollowerStatus:
    """Where a follower stands in one leader's log."""

    follower: str
    leader: str
    position: int
    leader_position: int
    state: str

    @property
    def lag(self) -> int:
        return max(self.leader_position - self.position, 0)

    def __str__(self) -> str:
        return (
            f"{self.follower} <- {self.leader}: at {self.position} of "
            f"{self.leader_position}, lag {self.lag} ({self.state})"
        )


class Worker(Runner):
    """Runs the followers named in `followers` (default: all), one lease each."""

    takeover_interval = 1.0
    lease_check_interval = 1.0
    retry_delay = 1.0
    max_retry_delay = 60.0

    def __init__(
        self,
        system: System,
        env: Mapping[str, str] | None = None,
        followers: Sequence[str] | None = None,
    ) -> None:
        super().__init__(system, env)
        unknown = sorted(set(followers or ()) - set(system.followers))
        if unknown:
            raise RetellError(
                f"{', '.join(unknown)}: not followers in this system; its followers are "
                f"{', '.join(system.followers)}"
            )
        self.names = list(followers or system.followers)
        self.states: dict[str, str] = {}
        self.errors: list[BaseException] = []

    def _after_start(self) -> None:
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._hold, args=(name,), name=f"retell-worker-{name}")
            for name in self.names
        ]
        for thread in self._threads:
            thread.start()

    def _hold(self, name: str) -> None:
        """Take the follower's lease when it is free, and process while it is held."""
        follower = self.follower(name)
        lease = follower.factory.lease(f"retell-follower:{name}")
        delay = self.retry_delay
        self.states[name] = "standby"
        while not self._stopping.is_set():
            if not lease.acquire():
                self._stopping.wait(self.takeover_interval)
                continue
            self.states[name] = "active"
            logger.info("%s: active", name)
            try:
                self._process_while_held(follower, lease.is_held)
                delay = self.retry_delay
            except (PolicyError, RetellError) as error:
                self.errors.append(error)
                self.states[name] = "failing"
                logger.error("%s: %s; retrying in %.0f s", name, error, delay, exc_info=error)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.max_retry_delay)
            finally:
                lease.release()
            if self.states[name] == "active":
                self.states[name] = "standby"
        self.states[name] = "stopped"

    def _process_while_held(self, follower: ProcessApplication, held: Callable[[], bool]) -> None:
        """Follow every leader until stopped, the lease is lost, or processing fails."""
        lock = threading.Lock()
        failures: list[BaseException] = []
        subscriptions: list[Subscription] = []
        threads: list[threading.Thread] = []
        for leader_name in self.system.follows[follower.name]:
            leader = self.apps[leader_name]
            follower.pull_and_process(leader_name)  # catch up, and check the position
            subscription = leader.recorder.subscribe(
                gt=follower.recorder.max_tracking_id(leader_name),
                topics=follower._topic_names,
            )
            subscriptions.append(subscription)

            def follow(name: str = leader_name, notifications: Subscription = subscription) -> None:
                mapper = self.apps[name].mapper
                try:
                    for notification in notifications:
                        with lock:
                            follower.process_notification(name, notification, mapper)
                except BaseException as error:
                    failures.append(error)

            threads.append(threading.Thread(target=follow, daemon=True))
        for thread in threads:
            thread.start()
        try:
            while not self._stopping.is_set() and not failures:
                if not held():
                    logger.warning("%s: lease lost; standing by", follower.name)
                    return
                if not all(thread.is_alive() for thread in threads):
                    break
                self._stopping.wait(self.lease_check_interval)
        finally:
            for subscription in subscriptions:
                subscription.stop()
            for thread in threads:
                thread.join(timeout=30)
        if failures:
            raise failures[0]

    def status(self) -> list[FollowerStatus]:
        """Each follower's position, its leader's, and the lag between them."""
        return follower_status(self, self.names, self.states)

    def _before_stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)


def follower_status(
    runner: Runner, names: Sequence[str], states: Mapping[str, str] | None = None
) -> list[FollowerStatus]:
    """The positions of the followers `names` of a started runner, one line per leader."""
    lines = []
    for name in names:
        follower = runner.follower(name)
        for leader_name in runner.system.follows[name]:
            lines.append(
                FollowerStatus(
                    name,
                    leader_name,
                    follower.recorder.max_tracking_id(leader_name) or 0,
                    runner.apps[leader_name].recorder.max_notification_id() or 0,
                    (states or {}).get(name, "not running here"),
                )
            )
    return lines
