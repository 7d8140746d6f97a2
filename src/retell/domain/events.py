"""Domain events: immutable value objects that say what happened to an aggregate.

Events are msgspec Structs: immutable, cheap to create, and decoded straight from
stored bytes into the right class without building an intermediate dict. That is
what makes replaying thousands of events fast.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import msgspec

from retell.errors import EventError, TranscodingError
from retell.topics import get_topic, register_topic, resolve_topic

if TYPE_CHECKING:
    from retell.domain.aggregate import Aggregate

# Attributes every aggregate has, kept out of snapshot state because the snapshot
# event itself carries them (id, version) or because they are transient (pending).
_SNAPSHOT_EXCLUDED = frozenset({"_id", "_version", "_pending_events"})


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the timestamp of every new event."""
    return datetime.now(UTC)


def call_body(
    body: Callable[..., Any],
    aggregate: Any,
    event: Any,
    fields: tuple[tuple[str, ...], tuple[str, ...]],
    start: int,
) -> None:
    """Run a decorated method's body with the event's values for its arguments.

    `fields` names the body's positional arguments and its keyword-only ones.
    """
    if start >= 0:
        body(aggregate, *msgspec.structs.astuple(event)[start:])
    else:
        positional, keyword_only = fields
        body(
            aggregate,
            *[getattr(event, name) for name in positional],
            **{name: getattr(event, name) for name in keyword_only},
        )


def positional_start(event_class: type, names: tuple[str, ...], positional: tuple[str, ...]) -> int:
    """Where a body's arguments start among the class's fields, if it can be called positionally.

    -1 when it cannot: keyword-only arguments, or fields in another order.
    """
    fields: tuple[str, ...] = event_class.__struct_fields__  # type: ignore[attr-defined]
    if names != positional or fields[len(fields) - len(positional) :] != positional:
        return -1
    return len(fields) - len(positional)


class DomainEvent(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """Something that happened to aggregate `originator_id`, making it `originator_version`.

    `correlation_id` and `causation_id` are set on events that a process application's
    policy records: the causation is the upstream event's identity
    (``"<originator_id>/<originator_version>"``), the correlation that of the command's
    first event, carried along a whole chain. Events of a command have neither (their
    own identity is their correlation), and they cost no bytes when unset.

    `class_version` (1 unless set) is stored with the event. When a class changes
    shape, raise it and add static methods ``upcast_v1_v2(state: dict) -> None``
    (and so on) that bring the stored state of older versions up to date.
    """

    # Unknown fields are refused so that the transcoder's fast path fails loudly (and
    # falls back to its careful path) on anything but data of exactly this shape.

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    correlation_id: str | None = None
    causation_id: str | None = None

    class_version: ClassVar[int] = 1

    @property
    def identity(self) -> str:
        """``"<originator_id>/<originator_version>"``: unique across applications."""
        return f"{self.originator_id}/{self.originator_version}"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_topic(get_topic(cls), cls)
        # A subclass may add fields: it must not inherit its parent's call plan.
        cls._apply_start = -1  # type: ignore[attr-defined]

    @classmethod
    def upcast(cls, state: dict[str, Any], from_version: int) -> None:
        """Bring `state`, stored by `from_version` of this class, up to `class_version`."""
        for version in range(from_version, cls.class_version):
            name = f"upcast_v{version}_v{version + 1}"
            upcaster: Callable[[dict[str, Any]], None] | None = getattr(cls, name, None)
            if upcaster is None:
                raise TranscodingError(
                    f"{cls.__qualname__} has class_version {cls.class_version} but no static "
                    f"method {name}(state: dict) -> None to upgrade events stored at "
                    f"version {version}: add it."
                )
            upcaster(state)


class AggregateEvent(DomainEvent, frozen=True, kw_only=True):
    """An event that changes an existing aggregate (``Aggregate.Event``)."""

    # Set on classes made by @event: the decorated method's body and its argument
    # names, which together are the event's apply(). When the arguments are the
    # class's last fields, in order, `_apply_start` is where they start, and the body
    # is called positionally from astuple(), the fastest way to read a Struct.
    _apply_body: ClassVar[Callable[..., Any] | None] = None
    _apply_fields: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]] = ((), ())
    _apply_start: ClassVar[int] = -1

    def apply(self, aggregate: Any) -> None:
        """Change the aggregate's state. Override it, or let @event use the method body."""
        cls = type(self)
        body = cls._apply_body
        if body is not None:
            start = cls._apply_start
            if start >= 0:  # inlined call_body(): this runs for every event replayed
                body(aggregate, *msgspec.structs.astuple(self)[start:])
            else:
                call_body(body, aggregate, self, cls._apply_fields, -1)

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        """Apply this event to `aggregate` and advance its version; returns the aggregate."""
        if aggregate is None:
            raise EventError(
                f"{type(self).__qualname__} (version {self.originator_version} of "
                f"{self.originator_id}) cannot start an aggregate: the first event must be "
                "a Created event."
            )
        if self.originator_version != aggregate._version + 1:
            raise EventError(
                f"{type(self).__qualname__} is version {self.originator_version} of aggregate "
                f"{self.originator_id}, but the aggregate is at version {aggregate._version}: "
                f"only version {aggregate._version + 1} can follow."
            )
        if self.originator_id.int != aggregate._id.int:
            raise EventError(
                f"{type(self).__qualname__} belongs to aggregate {self.originator_id}, "
                f"not to {aggregate._id}."
            )
        cls = type(self)
        start = cls._apply_start
        if start >= 0 and cls.apply is _DEFAULT_APPLY:  # the @event body, called directly
            cls._apply_body(aggregate, *msgspec.structs.astuple(self)[start:])  # type: ignore[misc]
        else:
            self.apply(aggregate)
        aggregate._version = self.originator_version
        aggregate._modified_on = self.timestamp
        return aggregate


_DEFAULT_APPLY = AggregateEvent.apply


class AggregateCreated(AggregateEvent, frozen=True, kw_only=True):
    """The first event of an aggregate (``Aggregate.Created``): it names the aggregate's class."""

    originator_topic: str

    def apply(self, aggregate: Any) -> None:
        """Run the aggregate's ``__init__`` body with the event's fields."""
        cls = type(aggregate)
        init = cls._init_body
        if init is not None:
            start = cls._init_start if type(self) is cls._created_class else -1
            call_body(init, aggregate, self, cls._init_fields, start)

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        if aggregate is not None:
            raise EventError(
                f"{type(self).__qualname__} creates aggregate {self.originator_id}, which "
                f"already exists at version {aggregate._version}."
            )
        cls = resolve_topic(self.originator_topic)
        new: Aggregate = cls.__new__(cls)
        new._id = self.originator_id
        new._version = self.originator_version
        new._created_on = self.timestamp
        new._modified_on = self.timestamp
        new._pending_events = []
        self.apply(new)
        return new


class Snapshot(DomainEvent, frozen=True, kw_only=True):
    """An aggregate's whole state at one version (``Aggregate.Snapshot``).

    Each aggregate class gets its own subclass, whose `class_version` is the
    aggregate's: the aggregate's upcasters upgrade the state of old snapshots.
    """

    topic: str
    state: dict[str, Any]

    _aggregate_class: ClassVar[type | None] = None  # set per aggregate class

    @classmethod
    def take(cls, aggregate: Aggregate) -> Snapshot:
        """A snapshot of `aggregate` as it is now."""
        state = {k: v for k, v in aggregate.__dict__.items() if k not in _SNAPSHOT_EXCLUDED}
        return cls(
            originator_id=aggregate._id,
            originator_version=aggregate._version,
            timestamp=utcnow(),
            topic=get_topic(type(aggregate)),
            state=state,
        )

    @classmethod
    def upcast(cls, state: dict[str, Any], from_version: int) -> None:
        aggregate_class = cls._aggregate_class
        if aggregate_class is None:
            raise TranscodingError(f"{cls.__qualname__} belongs to no aggregate class")
        for version in range(from_version, cls.class_version):
            name = f"upcast_v{version}_v{version + 1}"
            upcaster = getattr(aggregate_class, name, None)
            if upcaster is None:
                raise TranscodingError(
                    f"{aggregate_class.__qualname__} has class_version {cls.class_version} but "
                    f"no static method {name}(state: dict) -> None to upgrade snapshots "
                    f"stored at version {version}: add it."
                )
            upcaster(state["state"])

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        cls = resolve_topic(self.topic)
        new: Aggregate = cls.__new__(cls)
        new.__dict__.update(self.state)
        new._id = self.originator_id
        new._version = self.originator_version
        new._pending_events = []
        return new
