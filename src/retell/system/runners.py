"""Runners: construct a system's applications, wire followers to leaders, and keep them going.

A runner constructs and wires its applications when it is constructed, so that
``runner.get(cls)`` works before ``start()`` (to record events before processing
starts, say) and an application's construction error is raised where the runner is
made. Constructing one touches no table on the Django store, so a project can make
its runner in ``AppConfig.ready()``; started there (while a framework is
`retell.config.setting_up`), a `SingleThreadedRunner` reads nothing until the first
save, so that ``manage.py migrate`` can make the tables.

- `SingleThreadedRunner`: a save returns after every downstream follower processed
  it, and what that produced, until nothing is left to process: a processing loop
  (``[[Orders, Reservations, Orders]]``) runs to its end in the saving thread.
  Deterministic: the runner for tests and scripts.
- `MultiThreadedRunner`: a thread per follower, woken by its leaders' saves (and
  polling, for writes made by other processes). A failing policy stops only its
  own follower; the error is logged, kept in `errors`, and raised in the caller's
  thread by `watch_for_errors()` and `stop()`, as the `eventsourcing` library does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Generic, Self, TypeVar

from retell.application.application import Application
from retell.application.repository import Recording
from retell.config import setting_up
from retell.domain.types import TAggregateID
from retell.errors import PolicyError, RetellError, RunnerAlreadyStartedError, RunnerError
from retell.system.definition import System
from retell.system.processing import ProcessApplication

logger = logging.getLogger("retell.system")

A = TypeVar("A", bound=Application)


class Runner(Generic[TAggregateID]):
    """Builds a system's applications with one environment, and gives them out by class.

    ``SingleThreadedRunner[UUID](system)`` is allowed, as in the `eventsourcing` library.
    """

    def __init__(self, system: System, env: Mapping[str, str] | None = None) -> None:
        self.system = system
        self.env = dict(env or {})
        self.apps: dict[str, Application] = {}
        self.is_started = False
        self.is_processing = False
        self._closed = False
        self._build()

    def _build(self) -> None:
        """Construct every application, then make each follower follow its leaders.

        If one cannot be constructed, those constructed before it are closed and its
        error is raised.
        """
        try:
            for name in self.system.order:
                self.apps[name] = self.system.classes[name](env=self.env)
            for follower_name, leader_names in self.system.follows.items():
                follower = self.follower(follower_name)
                for leader_name in leader_names:
                    leader = self.apps[leader_name]
                    follower.follow(leader_name, leader.notification_log, leader.mapper)
        except BaseException:
            self._close_apps()
            raise
        self._closed = False

    def start(self, process: bool = True) -> None:
        """Start processing (a runner stopped before builds its applications anew).

        With ``process=False`` nothing is processed until the caller asks
        (``follower.pull_and_process(...)``): how ``manage.py sync_followers`` starts
        a runner, so that all processing happens under its reporting and, for a dry
        run, inside its rollback.
        """
        if self.is_started:
            raise RunnerAlreadyStartedError(
                f"{type(self).__name__} is already started: stop() it first"
            )
        if self._closed:
            self._build()
        self.is_started = True
        if not process:
            return
        try:
            self._after_start()
            self.is_processing = True
        except BaseException:
            self._stop()
            raise

    def _after_start(self) -> None:
        """Subclasses start processing here."""

    def stop(self) -> None:
        """Stop processing and close every application. Stopping twice is harmless."""
        self._stop()

    def _stop(self) -> None:
        if self.is_processing:
            self._before_stop()
            self.is_processing = False
        self._close_apps()
        self.is_started = False

    def _close_apps(self) -> None:
        for app in self.apps.values():
            app.close()
        self.apps.clear()
        self._closed = True

    def _before_stop(self) -> None:
        """Subclasses stop the processing that `_after_start` started."""

    def get(self, cls: type[A]) -> A:
        """The application of class `cls` (or of a subclass of it that takes its name)."""
        if self._closed:
            raise RunnerError(
                f"{type(self).__name__} is stopped and its applications are closed: "
                "start() it again"
            )
        app = self.apps.get(cls.name)
        if app is None or not isinstance(app, cls):
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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "started" if self.is_started else "stopped" if self._closed else "not started"
        return f"<{type(self).__name__} {state}: {', '.join(self.system.order)}>"


class SingleThreadedRunner(Runner[TAggregateID]):
    """Processes each save's consequences before the save returns, in the saving thread.

    A save prompts the saving application's followers; what they record prompts
    theirs, and so on until no follower has anything left to process. In a processing
    loop that is when the loop's policies stop producing events for one another.

    If a policy raises, the other followers still process, and then the save that
    started it all raises the `PolicyError` (its own events are recorded already).
    """

    def _after_start(self) -> None:
        # Leaders waiting for their followers to pull, in order, each once.
        self._prompted: dict[str, None] = dict.fromkeys(self.system.leaders)
        self._prompted_lock = threading.Lock()
        self._lock = threading.RLock()
        self._local = threading.local()
        for name in self.system.leaders:
            self.apps[name].after_save.append(self._on_saved)
        if setting_up():
            # Started in Django's AppConfig.ready(), say: the tables may not exist yet
            # (``migrate`` runs after it). Every leader stays prompted, so the first
            # save catches every follower up.
            return
        self._drain()

    def _before_stop(self) -> None:
        for name in self.system.leaders:
            self.apps[name].after_save.remove(self._on_saved)

    def _on_saved(self, app: Application, recordings: list[Recording]) -> None:
        if not recordings:
            return  # a follower recorded positions only: nothing new for its followers
        with self._prompted_lock:
            self._prompted[app.name] = None
        if getattr(self._local, "draining", False):
            return  # a policy's save: the drain in progress will get to it
        self._drain()

    def _next_prompted(self) -> str | None:
        with self._prompted_lock:
            name = next(iter(self._prompted), None)
            if name is not None:
                del self._prompted[name]
            return name

    def _drain(self) -> None:
        """Let followers pull from the prompted leaders until none is prompted."""
        errors: list[PolicyError] = []
        with self._lock:
            self._local.draining = True
            try:
                while (leader_name := self._next_prompted()) is not None:
                    for follower_name in self.system.leads[leader_name]:
                        try:
                            self.follower(follower_name).pull_and_process(leader_name)
                        except PolicyError as error:
                            logger.error("%s", error, exc_info=error.__cause__)
                            errors.append(error)
            finally:
                self._local.draining = False
        if errors:
            raise errors[0]


class MultiThreadedRunner(Runner[TAggregateID]):
    """A thread per follower, processing as its leaders record new events.

    A follower whose policy raises stops (the others go on); its error is kept in
    `errors`, `has_errored` is set, and the error is raised in the caller's thread by
    `watch_for_errors()` and by `stop()` (once: a runner stopped again, or stopped
    by a ``with`` block that is raising already, does not raise it again). Errors of
    the store outside a policy (a database restarting) are retried, not raised.
    """

    poll_interval = 1.0
    retry_delay = 1.0

    def __init__(self, system: System, env: Mapping[str, str] | None = None) -> None:
        self.errors: list[BaseException] = []
        self.has_errored = threading.Event()
        self._reported = False
        super().__init__(system, env)

    def _after_start(self) -> None:
        self.errors.clear()
        self.has_errored.clear()
        self._reported = False
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
        if not recordings:
            return
        for follower_name in self.system.leads[app.name]:
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
                self._failed(error)
                return
            except RetellError as error:
                logger.warning("%s could not process (%s); retrying", name, error)
                self._stopping.wait(self.retry_delay)
                continue
            except Exception as error:
                logger.exception("%s failed; it stops until restarted", name)
                self._failed(error)
                return
            wake.wait(self.poll_interval)

    def _failed(self, error: BaseException) -> None:
        self.errors.append(error)
        self.has_errored.set()

    def watch_for_errors(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds (None: until one comes) for a follower's error.

        If one comes, the runner is stopped and the error raised; if none does,
        returns False.
        """
        if self.has_errored.wait(timeout):
            self.stop()
        return self.has_errored.is_set()

    def reraise_thread_errors(self) -> None:
        """Raise the first follower's error, if there is one, without stopping."""
        if self.errors:
            raise self.errors[0]

    def stop(self) -> None:
        """Stop the threads, close the applications, then raise the first follower's
        error if there was one and it was not raised yet."""
        self._stop()
        if self.errors and not self._reported:
            self._reported = True
            raise self.errors[0]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._reported = True  # the block's own error goes on; ours stay in `errors`
        self.stop()

    def _before_stop(self) -> None:
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        for name in self.system.leaders:
            self.apps[name].after_save.remove(self._on_saved)


class NewSingleThreadedRunner(SingleThreadedRunner[TAggregateID]):
    """The `eventsourcing` library's other single-threaded runner; the same here."""


class NewMultiThreadedRunner(MultiThreadedRunner[TAggregateID]):
    """The `eventsourcing` library's other multi-threaded runner; the same here."""
