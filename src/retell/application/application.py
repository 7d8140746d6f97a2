"""Applications: save aggregates, get them back, and publish their events in one log."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, Self
from uuid import UUID

import msgspec

from retell.application.notification_log import NotificationLog
from retell.application.repository import EventStore, ProjectorFunction, Recording, Repository
from retell.config import Environment, process_environ
from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent, Snapshot, utcnow
from retell.domain.types import TAggregateID
from retell.errors import ConfigurationError, IntegrityError, RetellError, SnapshottingNotEnabled
from retell.persistence.factory import InfrastructureFactory
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import ApplicationRecorder
from retell.persistence.transcoder import Transcoder
from retell.topics import get_topic

logger = logging.getLogger("retell.application")


class Application(Generic[TAggregateID]):
    """Base class of applications. Subclass it and write command and query methods.

    Settings are read from `env` (class attribute), ``os.environ`` and the
    constructor's `env`, each key optionally prefixed with the upper-cased `name`.

    The parts are made by ``construct_*`` methods, in this order: `construct_factory`,
    `construct_mapper` (which calls `construct_transcoder`, which calls
    `register_transcodings`), `construct_recorder`, `construct_event_store`,
    `construct_snapshot_store` (when snapshotting), `construct_repository`,
    `construct_notification_log`. Override one to change that part, as in the
    `eventsourcing` library. ``Application[UUID]`` is allowed, as there.
    """

    name: ClassVar[str] = "Application"
    env: Mapping[str, str] = {}
    is_snapshotting_enabled: ClassVar[bool] = False
    snapshotting_intervals: ClassVar[Mapping[type, int]] = {}
    # Aggregates that events cannot change in place (immutable ones) are snapshotted
    # from what is recorded, rebuilt by their class's projector function.
    snapshotting_projectors: ClassVar[Mapping[type, ProjectorFunction[Any, Any]]] = {}
    # The snapshot class for aggregates that are not `Aggregate`s (default `Snapshot`).
    snapshot_class: ClassVar[type[Any] | None] = None
    notification_log_section_size: ClassVar[int] = 10
    log_section_size: ClassVar[int] = 10
    """The `eventsourcing` library's name for `notification_log_section_size`: a
    subclass may set either."""

    # The names of the cache settings, as the reference library spells them.
    AGGREGATE_CACHE_MAXSIZE: ClassVar[str] = "AGGREGATE_CACHE_MAXSIZE"
    AGGREGATE_CACHE_FASTFORWARD: ClassVar[str] = "AGGREGATE_CACHE_FASTFORWARD"
    AGGREGATE_CACHE_FASTFORWARD_SKIPPING: ClassVar[str] = "AGGREGATE_CACHE_FASTFORWARD_SKIPPING"
    DEEPCOPY_FROM_AGGREGATE_CACHE: ClassVar[str] = "DEEPCOPY_FROM_AGGREGATE_CACHE"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in vars(cls):
            cls.name = cls.__name__
        _sync_section_sizes(cls)

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = Environment(self.name, type(self).env, process_environ(), env)
        self.factory = self.construct_factory(self.env)
        try:
            self.mapper = self.construct_mapper()
            self.transcoder = self.mapper.transcoder
            self.recorder = self.construct_recorder()
            self.events = self.construct_event_store()
            self.snapshots: EventStore | None = None
            if self._is_snapshotting_enabled():
                self.snapshots = self.construct_snapshot_store()
            self.repository = self.construct_repository()
            self.notification_log = self.construct_notification_log()
            # Runners register here to hear of each save made through this object.
            self.after_save: list[Callable[[Application, list[Recording]], None]] = []
        except BaseException:
            self.factory.close()
            raise

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        """The store's factory, named by ``PERSISTENCE_MODULE`` in `env`."""
        return InfrastructureFactory.construct(env)

    def construct_transcoder(self) -> Transcoder:
        """The transcoder, with the types `register_transcodings` adds."""
        transcoder = self.factory.transcoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: Transcoder) -> None:
        """Override to teach the transcoder your own types (see `Transcoder.register`)."""

    def construct_mapper(self) -> Mapper:
        """The mapper, with `construct_transcoder`'s transcoder and the configured
        compressor and cipher."""
        return self.factory.mapper(self.construct_transcoder())

    def construct_recorder(self) -> ApplicationRecorder:
        return self.factory.application_recorder()

    def construct_event_store(self) -> EventStore:
        """The application's events, through `mapper`, in `recorder`."""
        return EventStore(self.mapper, self.recorder)

    def construct_snapshot_store(self) -> EventStore:
        """The snapshots, in a recorder of their own; made only when snapshotting."""
        return EventStore(self.mapper, self.factory.aggregate_recorder("snapshots"))

    def construct_notification_log(self) -> NotificationLog:
        """The notification log, in sections of `notification_log_section_size`."""
        return NotificationLog(self.recorder, self.notification_log_section_size)

    def construct_repository(self) -> Repository:
        """The repository, with the cache the environment asks for (see `Repository`)."""
        env = self.env
        if not isinstance(env, Environment):  # a subclass replaced it: read it the same way
            env = Environment(self.name, env)
        return Repository(
            self.events,
            self.snapshots,
            env.get_int(self.AGGREGATE_CACHE_MAXSIZE, 0),
            fastforward=env.get_bool(self.AGGREGATE_CACHE_FASTFORWARD, True),
            fastforward_skipping=env.get_bool(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, False),
            deepcopy_from_cache=env.get_bool(self.DEEPCOPY_FROM_AGGREGATE_CACHE, True),
        )

    def _is_snapshotting_enabled(self) -> bool:
        if "IS_SNAPSHOTTING_ENABLED" in self.env:
            return self.factory.is_snapshotting_enabled()
        return self.is_snapshotting_enabled or bool(self.snapshotting_intervals)

    @property
    def log(self) -> NotificationLog:
        """Deprecated: `notification_log`, under the name older code uses."""
        warnings.warn(
            "'log' is deprecated, use 'notification_log' instead", DeprecationWarning, stacklevel=2
        )
        return self.notification_log

    def save(self, *aggregates: Any) -> list[Recording]:
        """Record the pending events of all the aggregates, all or nothing.

        Returns the recorded events with their notification ids. If another writer
        saved one of the aggregates first, raises `ConcurrencyError` and records
        nothing; `Aggregate`s keep their pending events.

        Besides `Aggregate`s it takes events on their own (an `EventSourcedLog`'s, say),
        recorded as given, in order, and aggregates of any other style that give up
        their new events through ``collect_events()`` (they give them up even if the
        save fails: get them again to retry). None is skipped.
        """
        return self._save(aggregates)

    def _save(self, aggregates: Sequence[Any], **insert_kwargs: Any) -> list[Recording]:
        events: list[Any] = []
        others: list[tuple[Any, int]] = []
        try:
            if len(aggregates) == 1:
                events = aggregates[0]._pending_events  # replaced, not cleared, below
            else:
                for aggregate in aggregates:
                    events += aggregate._pending_events
        except AttributeError:  # not only Aggregates: the general path
            events, others = self._collect(aggregates)
            aggregates = [a for a in aggregates if isinstance(a, Aggregate)]
        try:
            recordings = self.events.put(events, **insert_kwargs)
        except BaseException:
            self.repository.forget_failed({e.originator_id for e in events})
            raise
        # The events are recorded: from here on nothing may raise, or the caller
        # would think the save failed and try it again.
        saved = [(aggregate, len(aggregate._pending_events)) for aggregate in aggregates]
        for aggregate in aggregates:
            aggregate._pending_events = []
        self._after_recording(recordings, [*saved, *others])
        return recordings

    def _collect(self, objects: Sequence[Any]) -> tuple[list[Any], list[tuple[Any, int]]]:
        """The events to record from aggregates of any style and events on their own, and
        the aggregates that are not `Aggregate`s with how many events each gave up."""
        events: list[Any] = []
        others: list[tuple[Any, int]] = []
        for obj in objects:
            if obj is None:
                continue
            if isinstance(obj, Aggregate):
                events += obj._pending_events
            elif isinstance(obj, DomainEvent) or _is_event(obj):
                events.append(obj)
            elif callable(getattr(obj, "collect_events", None)):
                new = list(obj.collect_events())
                events += new
                others.append((obj, len(new)))
            else:
                raise RetellError(
                    f"{type(self).__name__}.save() takes aggregates and events, not {obj!r}: "
                    "an aggregate is an Aggregate, or any object whose collect_events() gives "
                    "up its new events"
                )
        return events, others

    def _after_recording(
        self, recordings: list[Recording], saved: Sequence[tuple[Any, int]]
    ) -> None:
        """Cache and snapshot the aggregates whose events were just recorded (with how
        many each), then tell the listeners. Must not raise: the events are recorded.

        An aggregate that has changed again since (pending events: a follower recorded
        a batch while a policy was changing it) is neither cached nor snapshotted, as
        its state is ahead of what is recorded.
        """
        for aggregate, count in saved:
            if isinstance(aggregate, Aggregate) and aggregate._pending_events:
                continue
            if self.repository.cache is not None:
                self.repository.cache_saved(aggregate)
            if self.snapshots is not None and self._snapshot_due(aggregate, count):
                self._put_snapshot_after_save(aggregate)
        for listener in self.after_save:
            listener(self, recordings)

    def _put_snapshot_after_save(self, aggregate: Any) -> None:
        """A snapshot is an optimisation: failing to take one must not fail the save."""
        try:
            projector = self.snapshotting_projectors.get(type(aggregate))
            if projector is not None and not isinstance(aggregate, Aggregate):
                self.take_snapshot(aggregate.id, aggregate.version, projector_func=projector)
            else:
                self._put_snapshot(aggregate)
        except Exception:
            logger.exception(
                "%s saved %s version %s, but could not snapshot it",
                self.name,
                aggregate.id,
                aggregate.version,
            )

    def _snapshot_due(self, aggregate: Any, saved: int) -> bool:
        """Whether the saved events took the aggregate across a multiple of its interval."""
        interval = self.snapshotting_intervals.get(type(aggregate))
        if not interval or not saved:
            return False
        version: int = aggregate.version
        return (version - saved) // interval != version // interval

    def take_snapshot(
        self,
        aggregate_id: UUID | str,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] | None = None,
    ) -> None:
        """Store a snapshot of the aggregate at `version` (default: its latest).

        The aggregate is rebuilt from what is recorded, never taken from the cache or
        from unrecorded work, so that the snapshot holds recorded state only.
        `projector_func` rebuilds aggregates that events cannot change in place.
        """
        if self.snapshots is None:
            raise SnapshottingNotEnabled(
                f"{self.name} does not take snapshots: set IS_SNAPSHOTTING_ENABLED=y, "
                "is_snapshotting_enabled = True or snapshotting_intervals."
            )
        self._put_snapshot(self.repository._reconstruct(aggregate_id, version, projector_func))

    def _put_snapshot(self, aggregate: Any) -> None:
        assert self.snapshots is not None
        # A snapshot of this version may exist already: it would be the same.
        with contextlib.suppress(IntegrityError):
            self.snapshots.put([self._snapshot_of(aggregate)])

    def _snapshot_of(self, aggregate: Any) -> Any:
        snapshot_class = self.snapshot_class
        if isinstance(aggregate, Aggregate):
            if snapshot_class is None or snapshot_class is Snapshot:
                snapshot_class = type(aggregate).Snapshot  # it upcasts with the aggregate
            return snapshot_class.take(aggregate)
        if snapshot_class is not None and not issubclass(snapshot_class, Snapshot):
            return snapshot_class.take(aggregate)
        # Another style of aggregate: its public attributes are its state.
        return (snapshot_class or Snapshot)(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=utcnow(),
            topic=get_topic(type(aggregate)),
            state=dict(_state_of(aggregate)),
        )

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


def _sync_section_sizes(cls: type[Application[Any]]) -> None:
    """Make `log_section_size` and `notification_log_section_size` agree, whichever
    of the two the class sets."""
    own = vars(cls)
    if "log_section_size" in own and "notification_log_section_size" in own:
        if cls.log_section_size != cls.notification_log_section_size:
            raise ConfigurationError(
                f"{cls.__qualname__} sets log_section_size={cls.log_section_size!r} and "
                f"notification_log_section_size={cls.notification_log_section_size!r}: "
                "they are two names of one setting, so set one of them"
            )
    elif "log_section_size" in own:
        cls.notification_log_section_size = cls.log_section_size
    else:
        cls.log_section_size = cls.notification_log_section_size


def _is_event(obj: Any) -> bool:
    """An event of another style: it says whose and which version it is, and holds no events."""
    return (
        hasattr(obj, "originator_id")
        and hasattr(obj, "originator_version")
        and not hasattr(obj, "collect_events")
    )


def _state_of(aggregate: Any) -> Iterator[tuple[str, Any]]:
    """The fields of a dataclass, a msgspec Struct, or any object with a ``__dict__``."""
    if dataclasses.is_dataclass(aggregate):
        return ((f.name, getattr(aggregate, f.name)) for f in dataclasses.fields(aggregate))
    if isinstance(aggregate, msgspec.Struct):
        return iter(msgspec.structs.asdict(aggregate).items())
    try:
        return iter(vars(aggregate).items())
    except TypeError:
        raise RetellError(
            f"cannot snapshot {type(aggregate).__qualname__}: it is not a dataclass or a "
            "msgspec Struct, and has no __dict__. Set the application's snapshot_class to a "
            "class whose take(aggregate) makes its snapshot."
        ) from None
