"""Projections: an application's events, processed into a view built for reading.

A view is a tracking recorder of the store it lives in, extended with the tables
(or, with Django, the models) it needs. A projection's `process_event` writes to
the view and records the tracking position in the same transaction, so each event
is applied exactly once, however often the runner restarts. The view can live in
another database than the application it projects.

A `ProjectionRunner` runs a projection in a thread: it starts from the view's last
position and follows the application's log live, through the store's subscription.
It lives through the database going away (a restart, a crash, a failover): it waits
and reads on from the view's last position. Any other error stops it.

It starts with `start()` or a ``with`` block, not when it is made: a process that
only reads the view (a web server whose worker runs the projection elsewhere) makes
one to `wait` on. `run_forever()` starts it if need be and blocks until it stops or
fails, as in the `eventsourcing` library, whose runner starts when it is made.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar

from retell.application.application import Application
from retell.config import Environment, check_class_sizes, process_environ
from retell.domain.events import DomainEvent
from retell.errors import (
    OperationalError,
    RetellError,
    RunnerAlreadyStartedError,
    RunnerError,
    WaitInterruptedError,
)
from retell.persistence.factory import InfrastructureFactory
from retell.persistence.recorders import Subscription, TrackingRecorder
from retell.persistence.records import Notification, Tracking
from retell.topics import get_topic

logger = logging.getLogger("retell.projection")

RETRY_SECONDS = (0.1, 2.0)
"""The first and the longest pause before a runner reads again after the database
went away (doubling in between)."""

V = TypeVar("V", bound=TrackingRecorder)

Progress = Callable[[int, int], None]
"""Called during a rebuild with (position reached, last position of the log)."""


class Projection(ABC, Generic[V]):
    """Processes an application's events into the view `view`.

    Subclasses implement `process_event` (write to the view, with the tracking, in one
    transaction: the view's own methods do that) and, to support rebuilding,
    `reset_view` (empty the view's tables).
    """

    name: ClassVar[str] = "Projection"
    topics: ClassVar[Sequence[str | type[DomainEvent]]] = ()
    batch_size: ClassVar[int] = 1
    """Events the runner hands to `process_events` at most at once."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in vars(cls):
            cls.name = cls.__name__
        check_class_sizes(cls, "batch_size")

    def __init__(self, view: V) -> None:
        self.view = view

    @abstractmethod
    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        """Apply one event to the view, recording `tracking` in the same transaction."""

    def process_events(self, events: Sequence[tuple[DomainEvent, Tracking]]) -> None:
        """Apply a run of events, each with its tracking, in order.

        The default applies each with `process_event`. A projection that can apply a
        run in one transaction (with the last tracking, its `first_id` the run's
        first position) overrides this, and sets `batch_size`.
        """
        for domain_event, tracking in events:
            self.process_event(domain_event, tracking)

    def reset_view(self) -> None:
        """Empty the view, so that it can be rebuilt from the first event."""
        raise RetellError(
            f"{type(self).__name__} cannot be rebuilt: implement reset_view() to empty its view"
        )


class ProjectionRunner(Generic[V]):
    """Runs `projection_class` over `application_class`'s events, into a `view_class` view.

    The application's store comes from `env`; the view's store from `env` with keys
    prefixed by the projection's name (``LEADERBOARD_SQLITE_DBNAME=...``), so a view
    can live elsewhere, and gets its own table names.
    """

    def __init__(
        self,
        application_class: type[Application],
        projection_class: type[Projection[V]],
        view_class: type[V],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.app = application_class(env=env)
        self.factory = InfrastructureFactory.construct(
            Environment(projection_class.name, application_class.env, process_environ(), env)
        )
        self.view: V = self.factory.tracking_recorder(view_class)  # type: ignore[assignment]
        self.projection = projection_class(self.view)
        self.topics = tuple(
            t if isinstance(t, str) else get_topic(t) for t in projection_class.topics
        )
        self.errors: list[BaseException] = []
        self.is_interrupted = threading.Event()
        """Set once the runner stops following: `stop()`, an error, or `proceed` said no."""
        self._subscription: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._proceed: Callable[[], bool] | None = None
        self._halting = False

    @property
    def leader_name(self) -> str:
        return self.app.name

    def start(self, *, proceed: Callable[[], bool] | None = None) -> None:
        """Catch up from the view's last position, then follow new events in a thread.

        `proceed`, if given, is asked before each batch handed to the projection: once
        it answers False, the runner stops following there, within one batch (a worker
        asks whether it still holds the projection's lease).
        """
        if self._thread is not None:
            raise RunnerAlreadyStartedError("the projection runner is already started")
        self.is_interrupted.clear()
        self._proceed = proceed
        position = self.view.max_tracking_id(self.leader_name)
        self._subscription = self.app.recorder.subscribe(gt=position, topics=self.topics)
        self._thread = threading.Thread(
            target=self._run_until_stopped,
            args=(self._subscription,),
            name=f"retell-projection-{self.projection.name}",
            daemon=True,
        )
        self._thread.start()

    def run_forever(self, timeout: float | None = None) -> None:
        """Block until the runner stops or fails, or for `timeout` seconds; starts it
        first if it was never started. Raises the error that stopped it, if one did."""
        if self._thread is None and not self.is_interrupted.is_set():
            self.start()
        if self.is_interrupted.wait(timeout) and self.errors:
            raise self.errors[0]

    def _run_until_stopped(self, subscription: Subscription) -> None:
        try:
            self._run(subscription)
        finally:
            if not self._halting:  # halted for a rebuild, it follows again after
                self.is_interrupted.set()

    def _run(self, subscription: Subscription) -> None:
        pause = RETRY_SECONDS[0]
        while True:
            try:
                while page := subscription.take():
                    self._process(page)
                    pause = RETRY_SECONDS[0]
                return
            except OperationalError as error:
                # The database is away (a restart, a failover, a cut): wait, then read on
                # from what the view recorded, which tracking makes exactly once.
                logger.warning(
                    "projection %s: %s; trying again in %s s", self.projection.name, error, pause
                )
                if subscription.pause(pause):
                    return
                pause = min(pause * 2, RETRY_SECONDS[1])
                try:
                    subscription.rewind(self.view.max_tracking_id(self.leader_name))
                except OperationalError:
                    continue
            except BaseException as error:
                logger.error(
                    "projection %s stopped: %s", self.projection.name, error, exc_info=error
                )
                self.errors.append(error)
                return

    def _process(self, notifications: Sequence[Notification]) -> None:
        """Hand the notifications to the projection, `batch_size` at a time, while
        `proceed` (see `start`) lets it: when it does not, stop following."""
        decode, leader = self.app.mapper.to_domain_event, self.leader_name
        size, proceed = self.projection.batch_size, self._proceed
        for start in range(0, len(notifications), size):
            if proceed is not None and not proceed():
                subscription = self._subscription
                if subscription is not None:
                    subscription.stop()  # the thread ends once this returns
                return
            self.projection.process_events(
                [(decode(n), Tracking(leader, n.id)) for n in notifications[start : start + size]]
            )

    def wait(self, position: int | None, timeout: float = 5.0) -> None:
        """Block until the view has processed `position` (read-your-writes)."""
        if self.errors:
            raise RunnerError(f"the projection stopped: {self.errors[0]}") from self.errors[0]
        try:
            self.view.wait(self.leader_name, position, timeout, interrupt=self.is_interrupted)
        except WaitInterruptedError:
            if self.errors:  # it failed during the wait
                raise RunnerError(f"the projection stopped: {self.errors[0]}") from self.errors[0]
            raise

    def rebuild(self, progress: Progress | None = None) -> int:
        """Empty the view and replay every event into it; returns how many were processed.

        Stops following while it runs, and follows again afterwards if it was.
        """
        was_running, proceed = self._thread is not None, self._proceed
        self._halt()
        self._proceed = None
        self.projection.reset_view()
        self.view.delete_tracking(self.leader_name)
        last = self.app.recorder.max_notification_id() or 0
        processed, position = 0, 0
        while True:
            page = self.app.recorder.select_notifications(
                position + 1, 500, stop=last, topics=self.topics
            )
            if not page:
                break
            self._process(page)
            processed += len(page)
            position = page[-1].id
            if progress is not None:
                progress(position, last)
        if progress is not None:
            progress(last, last)
        if was_running:
            self.start(proceed=proceed)
        return processed

    def stop(self, close: bool = True) -> None:
        """Stop following; with `close`, also release the application and the view."""
        self._halt()
        self.is_interrupted.set()
        if close:
            self.view.close()
            self.factory.close()
            self.app.close()

    def _halt(self) -> None:
        """Stop the thread, leaving `is_interrupted` as it is."""
        self._halting = True
        try:
            if self._subscription is not None:
                self._subscription.stop()
            if self._thread is not None:
                self._thread.join(timeout=30)
            self._subscription, self._thread = None, None
        finally:
            self._halting = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
