"""Process applications: followers that turn their leaders' events into events of their own.

What a policy produces for an upstream event is recorded in one transaction with the
follower's new position in the leader's log. A crash before the commit loses both;
after it, neither is repeated. That is what makes processing exactly-once, across
restarts and across competing processes. A follower catching up records a run of
upstream events per transaction (`batch_size`, see `retell.system.batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from retell.application.application import Application
from retell.application.notification_log import NotificationLog, NotificationLogReader
from retell.application.processing_event import ProcessingEvent
from retell.application.repository import Recording
from retell.config import check_class_sizes
from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent
from retell.domain.types import TAggregateID
from retell.errors import ConfigurationError, PolicyError, RetellError, tracking_not_higher
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import ProcessRecorder
from retell.persistence.records import Notification, Tracking
from retell.system.batch import Batch, Overtaken
from retell.topics import get_topic

__all__ = ["ProcessApplication", "ProcessingEvent"]


@dataclass
class _Leader:
    """How a follower reads one leader: its log and the mapper that decodes its events."""

    log: NotificationLog
    mapper: Mapper


class ProcessApplication(Application[TAggregateID]):
    """An application that follows others: `policy` reacts to each of their events.

    Dispatch on the event class with ``functools.singledispatchmethod``::

        class Counters(ProcessApplication):
            @singledispatchmethod
            def policy(self, domain_event, processing_event): ...

            @policy.register
            def _(self, domain_event: Dog.TrickAdded, processing_event): ...

    `topics` (event classes or topic strings) limits what is read from the leaders.
    """

    topics: ClassVar[Sequence[str | type[DomainEvent]]] = ()
    page_size: ClassVar[int] = 500
    """Notifications read from a leader's log at a time."""
    pull_section_size: ClassVar[int] = 500
    """The `eventsourcing` library's name for `page_size`: a subclass may set either."""
    batch_size: ClassVar[int] = 100
    """Upstream events recorded per transaction when catching up (1: each on its own)."""

    recorder: ProcessRecorder

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "pull_section_size" in own and "page_size" not in own:
            cls.page_size = cls.pull_section_size
        elif "pull_section_size" not in own:
            cls.pull_section_size = cls.page_size
        check_class_sizes(cls, "page_size", "pull_section_size", "batch_size")
        if cls.page_size != cls.pull_section_size:
            raise ConfigurationError(
                f"{cls.__qualname__} sets page_size={cls.page_size} and "
                f"pull_section_size={cls.pull_section_size}: they are two names of one "
                "setting, so set one of them"
            )

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.leaders: dict[str, _Leader] = {}
        self._topic_names = tuple(t if isinstance(t, str) else get_topic(t) for t in self.topics)

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    def follow(
        self, leader_name: str, notification_log: NotificationLog, mapper: Mapper | None = None
    ) -> None:
        """Follow the application `leader_name` by reading `notification_log`.

        `mapper` decodes the leader's events; by default this application's own,
        which suits leaders with the same cipher and compressor settings.
        """
        self.leaders[leader_name] = _Leader(notification_log, mapper or self.mapper)

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        """React to an upstream event. The default ignores everything."""

    def pull_and_process(
        self,
        leader_name: str,
        start: int | None = None,
        stop: int | None = None,
        *,
        on_recorded: Callable[[int], None] | None = None,
        proceed: Callable[[], bool] | None = None,
    ) -> int:
        """Process the leader's events from `start` (default: after the last processed)
        to `stop` (default: the end of its log now). Returns how many were processed.

        `on_recorded` is called with the number of upstream events each time some are
        recorded: after a failure, those recorded before it stay recorded.

        `proceed`, if given, is asked before each batch: once it answers False,
        processing stops there (a worker asks whether it still holds its lease).
        """
        leader = self._leader(leader_name)
        last = self.recorder.max_tracking_id(leader_name)
        self._check_not_ahead(leader_name, leader, last)
        position = start if start is not None else (last or 0) + 1
        processed = 0
        while True:
            page = leader.log.select(position, self.page_size, stop, self._topic_names)
            if not page:
                return processed
            recorded, finished = self._process_run(
                leader_name, page, leader.mapper, on_recorded, proceed
            )
            processed += recorded
            if not finished:
                return processed
            position = page[-1].id + 1

    def process_notification(
        self, leader_name: str, notification: Notification, mapper: Mapper | None = None
    ) -> bool:
        """Process one upstream notification; False if it had been processed already.

        Not checked beforehand (that would cost a query per event): a position
        processed already is refused when its tracking is recorded.
        """
        return self.process_notifications(leader_name, [notification], mapper) == 1

    def process_notifications(
        self,
        leader_name: str,
        notifications: Sequence[Notification],
        mapper: Mapper | None = None,
        *,
        on_recorded: Callable[[int], None] | None = None,
        proceed: Callable[[], bool] | None = None,
    ) -> int:
        """Process upstream notifications in order, `batch_size` per transaction.

        Returns how many were recorded: those another process had recorded first are
        not. `mapper` decodes them (default: this application's). `proceed`: as for
        `pull_and_process`, asked before each batch; the rest are left unprocessed.
        """
        return self._process_run(leader_name, notifications, mapper, on_recorded, proceed)[0]

    def _process_run(
        self,
        leader_name: str,
        notifications: Sequence[Notification],
        mapper: Mapper | None,
        on_recorded: Callable[[int], None] | None,
        proceed: Callable[[], bool] | None,
    ) -> tuple[int, bool]:
        """How many were recorded, and whether all were processed (not stopped by `proceed`)."""
        remaining = notifications
        recorded = 0
        finished = True
        while remaining:
            batch = Batch(self, leader_name, on_recorded)
            try:
                finished = self._process(batch, remaining, mapper or self.mapper, proceed)
                remaining = ()
            except Overtaken as overtaken:
                remaining = [n for n in remaining if n.id > overtaken.position]
            recorded += batch.recorded
        return recorded, finished

    def _process(
        self,
        batch: Batch,
        notifications: Iterable[Notification],
        mapper: Mapper,
        proceed: Callable[[], bool] | None = None,
    ) -> bool:
        """Run the policy on each notification, recording `batch_size` at a time; False
        if `proceed`, asked before each batch, stopped it first."""
        with self.repository.unrecorded(batch):
            for notification in notifications:
                if not batch.size and proceed is not None and not proceed():
                    return False
                self._apply_policy(batch, mapper.to_domain_event(notification), notification.id)
            batch.flush()
        return True

    def _apply_policy(self, batch: Batch, domain_event: DomainEvent, position: int) -> None:
        """Run the policy on one upstream event and add what it produced to `batch`,
        recording the batch when it is full or must be recorded now."""
        processing = ProcessingEvent(Tracking(batch.leader_name, position), domain_event)
        try:
            self.policy(domain_event, processing)
        except Overtaken:
            raise  # a save in the policy found the batch overtaken
        except Exception as error:
            batch.flush()  # what was processed before it stays processed
            raise PolicyError(
                self.name, batch.leader_name, position, domain_event, error
            ) from error
        alone = batch.holds_another(processing)
        if alone:
            batch.flush()
        if batch.add(processing) or alone or batch.size >= self.batch_size:
            batch.flush()

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        """Run the policy on one upstream event, and record what it collected with
        `tracking`, in one transaction (the `eventsourcing` library's step, for code
        that feeds a follower events itself).

        A position processed already raises `IntegrityError` and records nothing.
        """
        leader_name = tracking.application_name
        batch = Batch(self, leader_name)
        try:
            with self.repository.unrecorded(batch):
                self._apply_policy(batch, domain_event, tracking.notification_id)
                batch.flush()
        except Overtaken as overtaken:
            raise tracking_not_higher(
                leader_name, tracking.notification_id, overtaken.position
            ) from None

    def pull_notifications(
        self,
        leader_name: str,
        start: int | None,
        stop: int | None = None,
        *,
        inclusive_of_start: bool = True,
    ) -> Iterator[list[Notification]]:
        """Pages of the leader's notifications from `start` (None: the first) to `stop`,
        of `topics` only, `page_size` at most each (as the `eventsourcing` library)."""
        reader = NotificationLogReader(self._leader(leader_name).log, self.page_size)
        return reader.select(
            start=start, stop=stop, topics=self._topic_names, inclusive_of_start=inclusive_of_start
        )

    def convert_notifications(
        self, leader_name: str, notifications: Iterable[Notification]
    ) -> list[tuple[DomainEvent, Tracking]]:
        """The leader's notifications as its events, each with its tracking position,
        ready for `process_event` (as the `eventsourcing` library)."""
        decode = self._leader(leader_name).mapper.to_domain_event
        return [(decode(n), Tracking(leader_name, n.id)) for n in notifications]

    def save(self, *aggregates: Aggregate) -> list[Recording]:
        """Save now, outside the tracking transaction (a policy should collect instead).

        In a policy, the batch so far is recorded first, so that the aggregates'
        earlier events are recorded before these.
        """
        work = self.repository.unrecorded_work
        if work is not None:
            work.flush()
        return super().save(*aggregates)

    def _leader(self, leader_name: str) -> _Leader:
        try:
            return self.leaders[leader_name]
        except KeyError:
            following = ", ".join(sorted(self.leaders)) or "nothing"
            raise RetellError(
                f"{self.name} does not follow {leader_name!r}; it follows {following}. "
                f"Call follow({leader_name!r}, ...) or add it to the system's pipes."
            ) from None

    def _check_not_ahead(self, leader_name: str, leader: _Leader, last: int | None) -> None:
        if last is None:
            return
        end = leader.log.recorder.max_notification_id()
        if end is None or last > end:
            raise RetellError(
                f"{self.name} has processed {leader_name}'s log up to position {last}, but "
                f"that log ends at {end or 0}: was {leader_name}'s store reset or pointed at "
                f"another database? Restore it, or reset {self.name}'s tracking and views."
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} following {sorted(self.leaders)}>"
