"""Domain events: immutable value objects that say what happened to an aggregate.

Events are msgspec Structs: immutable, cheap to create, and decoded straight from
stored bytes into the right class without building an intermediate dict. That is
what makes replaying thousands of events fast.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import msgspec

from retell.errors import (
    AggregateDefinitionError,
    EventError,
    OriginatorIDError,
    OriginatorVersionError,
    TranscodingError,
)
from retell.topics import get_topic, register_topic, resolve_topic

if TYPE_CHECKING:
    from retell.domain.aggregate import Aggregate

# Attributes every aggregate has, kept out of snapshot state because the snapshot
# event itself carries them (id, version) or because they are transient (pending).
_SNAPSHOT_EXCLUDED = frozenset({"_id", "_version", "_pending_events"})


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the timestamp of every new event."""
    return datetime.now(UTC)


now_utc: Callable[[], datetime] = functools.partial(datetime.now, UTC)
"""`utcnow` without a Python function call in between, for the paths every event takes."""


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


class _EventMeta(msgspec.StructMeta):
    """Lets event classes declare fields with `dataclasses.field`, as dataclass events do.

    Every event class's fields are keyword-only: events are made with keywords.

    ``field(default=...)`` and ``field(default_factory=...)`` become msgspec defaults.
    A field with ``init=False`` is one that method signatures leave out: its value
    comes from its default or factory (a context variable's ``get``, say) whenever an
    event is made, and from the stored state when one is read back.
    """

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> Any:
        not_init: set[str] = set()
        for base in bases:
            not_init.update(getattr(base, "_not_init_fields", ()))
        for attr, value in list(namespace.items()):
            if isinstance(value, dataclasses.Field):
                namespace[attr] = _struct_field(name, attr, value)
                if namespace[attr] is dataclasses.MISSING:
                    del namespace[attr]
                if not value.init:
                    not_init.add(attr)
                else:
                    not_init.discard(attr)
        namespace["_not_init_fields"] = frozenset(not_init)
        bases = _with_topic_if_shared(name, bases, namespace, not_init)
        # Fields are keyword-only, so that a subclass may add required fields after
        # inherited ones with defaults (a dataclass would refuse that order).
        kwargs.setdefault("kw_only", True)
        try:
            return super().__new__(mcls, name, bases, namespace, **kwargs)
        except TypeError as error:
            if "lay-out conflict" not in str(error):
                raise
            names = ", ".join(b.__qualname__ for b in bases)
            raise AggregateDefinitionError(
                f"{name} cannot subclass both of {names}: more than one of them adds fields "
                "of its own, and an event class can inherit fields along one line of bases "
                "only. Declare the fields on one base, or on the class itself."
            ) from None


_CLASSVAR = re.compile(r"^\s*(typing\.|t\.)?ClassVar\b")


def is_classvar(annotation: Any) -> bool:
    """Whether an annotation (maybe a string, under ``from __future__ import annotations``)
    declares a class variable rather than a field."""
    if isinstance(annotation, str):
        return _CLASSVAR.match(annotation) is not None
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _with_topic_if_shared(
    name: str, bases: tuple[type, ...], namespace: dict[str, Any], not_init: set[str]
) -> tuple[type, ...]:
    """The bases of an aggregate's base event class that has fields, with `_WithTopic`.

    Created classes combine such a class with ``Aggregate.Created`` (``class
    Created(Event, Aggregate.Created)``), and a Struct class can inherit fields along
    one line of bases only: both must then get ``originator_topic`` from one class.
    Other events do without that field (each field costs every event's encoding).
    Taken to be such a class: one named ``Event``, or one with fields that have
    defaults or are left out of signatures, as fields all events share must be.
    """
    with_topic = globals().get("_WithTopic")
    if with_topic is None or not any(issubclass(b, AggregateEvent) for b in bases):
        return bases
    if any(issubclass(b, with_topic) for b in bases):
        return bases
    annotations = namespace.get("__annotations__", {})
    own = [field for field, tp in annotations.items() if not is_classvar(tp)]
    shared = name == "Event" or not_init.intersection(own) or any(f in namespace for f in own)
    return (with_topic, *bases) if own and shared else bases


def _struct_field(class_name: str, name: str, field: dataclasses.Field[Any]) -> Any:
    """The msgspec equivalent of a dataclass field (MISSING: a field without a default)."""
    if field.default is not dataclasses.MISSING:
        return msgspec.field(default=field.default)
    if field.default_factory is not dataclasses.MISSING:
        return msgspec.field(default_factory=field.default_factory)
    if not field.init:
        raise AggregateDefinitionError(
            f"{class_name}.{name} is field(init=False) without a default: events are "
            "immutable, so nothing could set it later. Give it a default or a "
            "default_factory (such as a context variable's get)."
        )
    return dataclasses.MISSING


class DomainEvent(
    msgspec.Struct,
    metaclass=_EventMeta,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
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

    if TYPE_CHECKING:
        originator_id: UUID | str
    else:
        # A UUID or a str. msgspec takes no union of two str-like types, and the JSON of
        # either is a string, so it reads the id as text; the record read back has the id
        # as the store keeps it, which the mapper sets on the event (`retell.persistence
        # .mapper`). So a UUID comes back a UUID, and a str a str, on the fast path.
        originator_id: str
    originator_version: int
    timestamp: datetime
    correlation_id: str | None = None
    causation_id: str | None = None

    class_version: ClassVar[int] = 1
    _not_init_fields: ClassVar[frozenset[str]] = frozenset()  # set by the metaclass

    @staticmethod
    def create_timestamp() -> datetime:
        """The timestamp of a new event: now, timezone-aware in UTC. Override it to change that."""
        return now_utc()

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
    """An event that changes an existing aggregate (``Aggregate.Event``).

    Applying it runs the body of the ``@event`` method that triggers it (if any), then
    its `apply` method (if overridden): so a base ``Event`` class can apply what all
    of an aggregate's events have in common, as in the `eventsourcing` library.
    """

    # Set on classes made by @event: the decorated method's body and its argument
    # names. When the arguments are the class's last fields, in order,
    # `_apply_start` is where they start, and the body is called positionally from
    # astuple(), the fastest way to read a Struct.
    _apply_body: ClassVar[Callable[..., Any] | None] = None
    _apply_fields: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]] = ((), ())
    _apply_start: ClassVar[int] = -1
    # (_apply_body, _apply_start, whether `apply` is overridden): what `mutate` needs,
    # read with one lookup, since it runs for every event replayed.
    _plan: ClassVar[tuple[Callable[..., Any] | None, int, bool]] = (None, -1, False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._make_plan()

    @classmethod
    def _make_plan(cls) -> None:
        """Compute `_plan`: after the class is made, and whenever ``@event`` sets its body."""
        cls._plan = (cls._apply_body, cls._apply_start, cls.apply is not AggregateEvent.apply)

    def apply(self, aggregate: Any) -> None:
        """Change the aggregate's state: override it (an ``@event`` method's body runs first)."""

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        """Apply this event to `aggregate` and advance its version; returns the aggregate.

        Any object with ``id`` and ``version`` attributes can be mutated, as in the
        `eventsourcing` library: its ``version`` and ``modified_on`` are then set.
        """
        try:
            version = aggregate._version  # type: ignore[union-attr]
            aggregate_id = aggregate._id  # type: ignore[union-attr]
        except AttributeError:
            mutated: Aggregate = self._mutate_object(aggregate)
            return mutated
        if self.originator_version != version + 1:
            raise self._version_error(version)
        originator_id = self.originator_id
        if originator_id is not aggregate_id and originator_id != aggregate_id:
            raise self._id_error(aggregate_id)
        body, start, applies = type(self)._plan
        if start >= 0:  # inlined call_body(): this runs for every event replayed
            body(aggregate, *msgspec.structs.astuple(self)[start:])  # type: ignore[misc]
        elif body is not None:
            call_body(body, aggregate, self, type(self)._apply_fields, -1)
        if applies:
            self.apply(aggregate)
        aggregate._version = self.originator_version  # type: ignore[union-attr]
        aggregate._modified_on = self.timestamp  # type: ignore[union-attr]
        return aggregate  # type: ignore[return-value]

    def _mutate_object(self, aggregate: Any) -> Any:
        """`mutate` for an object that is not an `Aggregate`, through its public attributes."""
        if aggregate is None:
            raise EventError(
                f"{type(self).__qualname__} (version {self.originator_version} of "
                f"{self.originator_id}) cannot start an aggregate: the first event must be "
                "a Created event."
            )
        if self.originator_version != aggregate.version + 1:
            raise self._version_error(aggregate.version)
        if self.originator_id != aggregate.id:
            raise self._id_error(aggregate.id)
        cls = type(self)
        if cls._apply_body is not None:
            call_body(cls._apply_body, aggregate, self, cls._apply_fields, -1)
        self.apply(aggregate)
        aggregate.version = self.originator_version
        aggregate.modified_on = self.timestamp
        return aggregate

    def _version_error(self, version: int) -> EventError:
        return OriginatorVersionError(
            f"{type(self).__qualname__} is version {self.originator_version} of aggregate "
            f"{self.originator_id}, but the aggregate is at version {version}: "
            f"only version {version + 1} can follow."
        )

    def _id_error(self, aggregate_id: Any) -> EventError:
        return OriginatorIDError(
            f"{type(self).__qualname__} belongs to aggregate {self.originator_id}, "
            f"not to {aggregate_id}."
        )


_DEFAULT_APPLY = AggregateEvent.apply


class _WithTopic(AggregateEvent, frozen=True, kw_only=True):
    """The field ``originator_topic``, for Created events and for the base event classes
    they may share with other events (see `_with_topic_if_shared`): unset, and not
    stored, on the others."""

    originator_topic: str | None = None


class AggregateCreated(_WithTopic, frozen=True, kw_only=True):
    """The first event of an aggregate (``Aggregate.Created``): it names the aggregate's class.

    Applying it makes the aggregate and runs its ``__init__`` body with the event's
    fields, then the event's `apply` method, if overridden.
    """

    originator_topic: str  # required here

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
        init = cls._init_body
        if init is not None:
            if cls._init_takes_id:  # __init__(self, id, ...): the id is not an event field
                positional, keyword_only = cls._init_fields
                values = {n: getattr(self, n) for n in (*positional, *keyword_only) if n != "id"}
                init(new, id=self.originator_id, **values)
            else:
                start = cls._init_start if type(self) is cls._created_class else -1
                call_body(init, new, self, cls._init_fields, start)
        if type(self).apply is not _DEFAULT_APPLY:
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
