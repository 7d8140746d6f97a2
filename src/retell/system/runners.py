"""Runners: construct a system's applications, wire followers to leaders, and keep them going.

- `SingleThreadedRunner`: a save returns after every downstream follower processed
  it, in the caller's thread. Deterministic: the runner for tests and scripts.
- `MultiThreadedRunner`: a thread per follower, woken by its leaders' saves (and
  polling, for writes made by other processes). A failing policy stops only its
  own follower; the error is logged and kept in `errors`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from typing import Self, TypeVar

from retell.application.application import Application
from retell.application.repository import Recording
from retell.errors import PolicyError, RetellError, RunnerError
from retell.system.definition import System
from retell.system.processing import ProcessApplication

logger = logging.getLogger("retell.system")

A = TypeVar("A", bound=Application)


class Runner:
    """Builds a system's applications with one environment, and gives them out by class."""

    def __init__(self, system: System, env: Mapping[str, str] | None = None) -> None:
        self.system = system
        self.env = dict(env or {})
        self.apps: dict[str, Application] = {}
        self.is_started = False
        self.is_processing = False

    def start(self, process: bool = True) -> None:
        """Build and wire the applications, then start processing.

        With ``process=False`` the applications are built and wired but nothing is
        processed until the caller asks (``follower.pull_and_process(...)``): how
        ``manage.py sync_followers`` starts a runner, so that all processing happens
        under its reporting and, for a dry run, inside its rollback.
        """
        if self.is_started:
            raise RunnerError(f"{type(self).__name__} is already started: stop() it first")
        try:
            for name in self.system.order:
                self.apps[name] = self.system.classes[name](env=self.env)
            for follower_name, leader_names in self.system.follows.items():
                follower = self.follower(follower_name)
                for leader_name in leader_names:
                    leader = self.apps[leader_name]
                    follower.follow(leader_name, leader.notification_log, leader.mapper)
            self.is_started = True
            if process:
                self._after_start()
                self.is_processing = True
        except BaseException:
            self.stop()
            raise

    def _after_start(self) -> None:
        """Subclasses start processing here."""

    def stop(self) -> None:
        """Stop processing and close every application. Stopping twice is harmless."""
        if self.is_processing:
            self._before_stop()
            self.is_processing = False
        for app in self.apps.values():
            app.close()
        self.apps.clear()
        self.is_started = False

    def _before_stop(self) -> None:
        """Subclasses stop the processing that `_after_start` started."""

    def get(self, cls: type[A]) -> A:
        """The running application of class `cls`."""
        if not self.is_started:
            raise RunnerError(f"{type(self).__name__} is not started: call start() first")
        app = self.apps.get(cls.name)
        if app is None or type(app) is not cls:
            raise RunnerError(
                f"{cls.__name__} is not in this system; it has {', '.join(self.system.order)}"
            )
        return app

    def follower(self, name: str) -> ProcessApplication:
        app = self.apps[name]
        assert isinstance(app, ProcessApplication)
        return app

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SingleThreadedRunner(Runner):
    """Processes each save's consequences before the save returns, in the saving thread.

    If a policy raises, the other followers still process, and then the save that
    started it all raises the `PolicyError` (its own events are recorded already).
    """

    def _after_start(self) -> None:
        self._queue: deque[str] = deque(self.system.leaders)
        self._lock = threading.RLock()
        self._local = threading.local()
        for name in self.system.leaders:
            self.apps[name].after_save.append(self._on_saved)
        self._drain()

    def _on_saved(self, app: Application, recordings: list[Recording]) -> None:
        self._queue.append(app.name)
        if getattr(self._local, "draining", False):
            return  # a policy's save: the drain in progress will get to it
        self._drain()

    def _drain(self) -> None:
        errors: list[PolicyError] = []
        with self._lock:
            self._local.draining = True
            try:
                while self._queue:
                    leader_name = self._queue.popleft()
                    for follower_name in self.system.leads.get(leader_name, []):
                        try:
                            self.follower(follower_name).pull_and_process(leader_name)
                        except PolicyError as error:
                            logger.error("%s", error, exc_info=error.__cause__)
                            errors.append(error)
            finally:
                self._local.draining = False
        if errors:
            raise errors[0]


class MultiThreadedRunner(Runner):
    """A thread per follower, processing as its leaders record new events."""

    poll_interval = 1.0
    retry_delay = 1.0

    def _after_start(self) -> None:
        self.errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._wakes = {name: threading.Event() for name in self.system.followers}
        for name in self.system.leaders:
            self.apps[name].after_save.append(self._on_saved)
        self._threads = [
            threading.Thread(target=self._run, args=(name,), name=f"retell-{name}", daemon=True)
            for name in self.system.followers
        ]
        for thread in self._threads:
            thread.start()

    def _on_saved(self, app: Application, recordings: list[Recording]) -> None:
        for follower_name in self.system.leads.get(app.name, []):
            self._wakes[follower_name].set()

    def _run(self, name: str) -> None:
        follower = self.follower(name)
        wake = self._wakes[name]
        while not self._stopping.is_set():
            wake.clear()  # before reading, so a save during the read is not slept through
            try:
                for leader_name in self.system.follows[name]:
                    follower.pull_and_process(leader_name)
            except PolicyError as error:
                logger.error("%s; %s stops until restarted", error, name, exc_info=error.__cause__)
                self.errors.append(error)
                return
            except RetellError as error:
                logger.warning("%s could not process (%s); retrying", name, error)
                self._stopping.wait(self.retry_delay)
                continue
            wake.wait(self.poll_interval)

    def _before_stop(self) -> None:
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
