"""Process applications: followers that turn their leaders' events into events of their own.

Each upstream event is processed in one transaction that records both what the
policy produced and the follower's new position in the leader's log. A crash
before the commit loses both; after it, neither is repeated. That is what makes
processing exactly-once, across restarts and across competing processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import msgspec

from retell.application.application import Application
from retell.application.notification_log import NotificationLog
from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent
from retell.errors import ConcurrencyError, IntegrityError, PolicyError, RetellError
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import ProcessRecorder
from retell.persistence.records import Notification, Tracking
from retell.topics import get_topic


@dataclass
class ProcessingEvent:
    """What a policy produces while it processes one upstream event.

    Call `collect_events` with the aggregates the policy changed; they are saved
    with the tracking position when the policy returns.
    """

    tracking: Tracking
    upstream: DomainEvent
    aggregates: list[Aggregate] = field(default_factory=list)

    def collect_events(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            if not isinstance(aggregate, Aggregate):
                raise RetellError(f"collect_events() takes aggregates, not {aggregate!r}")
            if aggregate not in self.aggregates:
                self.aggregates.append(aggregate)


@dataclass
class _Leader:
    """How a follower reads one leader: its log and the mapper that decodes its events."""

    log: NotificationLog
    mapper: Mapper


class ProcessApplication(Application):
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

    recorder: ProcessRecorder

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
        self, leader_name: str, start: int | None = None, stop: int | None = None
    ) -> int:
        """Process the leader's events from `start` (default: after the last processed)
        to `stop` (default: the end of its log now). Returns how many were processed."""
        leader = self._leader(leader_name)
        last = self.recorder.max_tracking_id(leader_name)
        self._check_not_ahead(leader_name, leader, last)
        position = start if start is not None else (last or 0) + 1
        processed = 0
        while True:
            page = leader.log.select(position, self.page_size, stop, self._topic_names)
            if not page:
                return processed
            for notification in page:
                if self.process_notification(leader_name, notification, leader.mapper):
                    processed += 1
            position = page[-1].id + 1

    def process_notification(
        self, leader_name: str, notification: Notification, mapper: Mapper | None = None
    ) -> bool:
        """Process one upstream notification; False if it had been processed already.

        Not checked beforehand (that would cost a query per event): a position
        processed already is refused when its tracking is recorded.
        """
        domain_event = (mapper or self.mapper).to_domain_event(notification)
        processing = ProcessingEvent(Tracking(leader_name, notification.id), domain_event)
        try:
            self.policy(domain_event, processing)
        except Exception as error:
            raise PolicyError(
                self.name, leader_name, notification.id, domain_event, error
            ) from error
        return self._record(processing)

    def _record(self, processing: ProcessingEvent) -> bool:
        upstream = processing.upstream
        correlation = upstream.correlation_id or upstream.identity
        for aggregate in processing.aggregates:
            for new_event in aggregate._pending_events:
                msgspec.structs.force_setattr(new_event, "correlation_id", correlation)
                msgspec.structs.force_setattr(new_event, "causation_id", upstream.identity)
        try:
            self._save(processing.aggregates, tracking=processing.tracking)
        except ConcurrencyError:
            raise
        except IntegrityError:
            tracking = processing.tracking
            if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False  # another process got there first: nothing to do
            raise
        return True

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

