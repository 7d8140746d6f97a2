"""Applications: save aggregates, get them back, and publish their events in one log."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self
from uuid import UUID

from retell.application.notification_log import NotificationLog
from retell.application.repository import EventStore, Recording, Repository
from retell.config import Environment, process_environ
from retell.domain.aggregate import Aggregate
from retell.domain.events import AggregateEvent
from retell.errors import IntegrityError, RetellError
from retell.persistence.factory import InfrastructureFactory
from retell.persistence.recorders import ApplicationRecorder
from retell.persistence.transcoder import Transcoder

logger = logging.getLogger("retell.application")


class Application:
    """Base class of applications. Subclass it and write command and query methods.

    Settings are read from `env` (class attribute), ``os.environ`` and the
    constructor's `env`, each key optionally prefixed with the upper-cased `name`.
    """

    name: ClassVar[str] = "Application"
    env: Mapping[str, str] = {}
    snapshotting_intervals: ClassVar[Mapping[type[Aggregate], int]] = {}
    notification_log_section_size: ClassVar[int] = 10

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in vars(cls):
            cls.name = cls.__name__

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = Environment(self.name, type(self).env, process_environ(), env)
        self.factory = InfrastructureFactory.construct(self.env)
        try:
            self.transcoder = Transcoder()
            self.register_transcodings(self.transcoder)
            self.mapper = self.factory.mapper(self.transcoder)
            self.recorder = self.construct_recorder()
            self.events = EventStore(self.mapper, self.recorder)
            self.snapshots: EventStore | None = None
            if self._is_snapshotting_enabled():
                self.snapshots = EventStore(
                    self.mapper, self.factory.aggregate_recorder("snapshots")
                )
            cache_maxsize = self.env.get_int("AGGREGATE_CACHE_MAXSIZE", 0)
            self.repository = Repository(self.events, self.snapshots, cache_maxsize)
            self.notification_log = NotificationLog(
                self.recorder, self.notification_log_section_size
            )
            # Runners register here to hear of each save made through this object.
            self.after_save: list[Callable[[Application, list[Recording]], None]] = []
        except BaseException:
            self.factory.close()
            raise

    def register_transcodings(self, transcoder: Transcoder) -> None:
        """Override to teach the transcoder your own types (see `Transcoder.register`)."""

    def construct_recorder(self) -> ApplicationRecorder:
        return self.factory.application_recorder()

    def _is_snapshotting_enabled(self) -> bool:
        if "IS_SNAPSHOTTING_ENABLED" in self.env:
            return self.factory.is_snapshotting_enabled()
        return bool(self.snapshotting_intervals)

    def save(self, *aggregates: Aggregate) -> list[Recording]:
        """Record the pending events of all the aggregates, all or nothing.

        Returns the recorded events with their notification ids. If another writer
        saved one of the aggregates first, raises `ConcurrencyError` and records
        nothing; the aggregates keep their pending events.
        """
        return self._save(aggregates)

    def _save(self, aggregates: Sequence[Aggregate], **insert_kwargs: Any) -> list[Recording]:
        events: list[AggregateEvent] = []
        try:
            if len(aggregates) == 1:
                events = aggregates[0]._pending_events  # replaced, not cleared, below
            else:
                for aggregate in aggregates:
                    events += aggregate._pending_events
        except AttributeError:
            wrong = next(a for a in aggregates if not isinstance(a, Aggregate))
            raise RetellError(
                f"{type(self).__name__}.save() takes aggregates, not {wrong!r}"
            ) from None
        recordings = self.events.put(events, **insert_kwargs)
        # The events are recorded: from here on nothing may raise, or the caller
        # would think the save failed and try it again.
        saved = [(aggregate, len(aggregate._pending_events)) for aggregate in aggregates]
        for aggregate in aggregates:
            aggregate._pending_events = []
        self._after_recording(recordings, saved)
        return recordings

    def _after_recording(
        self, recordings: list[Recording], saved: Sequence[tuple[Aggregate, int]]
    ) -> None:
        """Cache and snapshot the aggregates whose events were just recorded (with how
        many each), then tell the listeners. Must not raise: the events are recorded.

        An aggregate that has changed again since (pending events: a follower recorded
        a batch while a policy was changing it) is neither cached nor snapshotted, as
        its state is ahead of what is recorded.
        """
        for aggregate, count in saved:
            if aggregate._pending_events:
                continue
            if self.repository.cache is not None:
                self.repository.cache_saved(aggregate)
            if self.snapshots is not None and self._snapshot_due(aggregate, count):
                self._put_snapshot_after_save(aggregate)
        for listener in self.after_save:
            listener(self, recordings)

    def _put_snapshot_after_save(self, aggregate: Aggregate) -> None:
        """A snapshot is an optimisation: failing to take one must not fail the save."""
        try:
            self._put_snapshot(aggregate)
        except Exception:
            logger.exception(
                "%s saved %s version %s, but could not snapshot it",
                self.name,
                aggregate.id,
                aggregate.version,
            )

    def _snapshot_due(self, aggregate: Aggregate, saved: int) -> bool:
        """Whether the saved events took the aggregate across a multiple of its interval."""
        interval = self.snapshotting_intervals.get(type(aggregate))
        if not interval or not saved:
            return False
        return (aggregate.version - saved) // interval != aggregate.version // interval

    def take_snapshot(self, aggregate_id: UUID, version: int | None = None) -> None:
        """Store a snapshot of the aggregate at `version` (default: its latest)."""
        if self.snapshots is None:
            raise RetellError(
                f"{self.name} does not take snapshots: set IS_SNAPSHOTTING_ENABLED=y or "
                "snapshotting_intervals."
            )
        self._put_snapshot(self.repository.get(aggregate_id, version))

    def _put_snapshot(self, aggregate: Aggregate) -> None:
        assert self.snapshots is not None
        # A snapshot of this version may exist already: it would be the same.
        with contextlib.suppress(IntegrityError):
            self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])

    def close(self) -> None:
        """Release the store's connections."""
        if self.snapshots is not None:
            self.snapshots.recorder.close()
        self.recorder.close()
        self.factory.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
