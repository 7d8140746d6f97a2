"""Aggregates: objects whose state is the result of applying their events in order.

Creating an aggregate (``Dog("Fido")``) does not run ``__init__`` directly: it
triggers the aggregate's Created event, and applying that event runs the body. So
the same code builds a new aggregate and rebuilds a stored one, and the two can
never disagree.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import msgspec

from retell.domain.decorators import (
    ArgumentBinder,
    EventDecorator,
    compile_trigger,
    field_types,
)
from retell.domain.events import (
    AggregateCreated,
    AggregateEvent,
    Snapshot,
    positional_start,
    utcnow,
)
from retell.errors import ArgumentError, EventError
from retell.topics import get_topic, register_topic

A = TypeVar("A", bound="Aggregate")
E = TypeVar("E", bound=AggregateEvent)

_BASE_FIELDS = frozenset(AggregateCreated.__struct_fields__)


def _event_subclass(
    owner: type, name: str, bases: tuple[type, ...], fields: dict[str, Any] | None = None
) -> Any:
    """Make an event class nested in `owner`, with a topic that resolves to it."""
    qualname = f"{owner.__qualname__}.{name}"
    cls = msgspec.defstruct(
        name,
        list((fields or {}).items()),
        bases=bases,
        module=owner.__module__,
        namespace={"__qualname__": qualname},
        frozen=True,
        kw_only=True,
    )
    register_topic(get_topic(cls), cls)
    setattr(owner, name, cls)
    return cls


class AggregateMeta(type):
    """Makes calling an aggregate class trigger its Created event."""

    # Returning Any lets type checkers check calls against __init__'s signature.
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        aggregate_class: type[Aggregate] = cls  # type: ignore[assignment]
        binder = aggregate_class._init_binder
        if binder is not None:
            fields = binder.bind(args, kwargs)
        else:
            if args or (kwargs and not kwargs.keys() <= _creation_keywords(aggregate_class)):
                raise _without_init_error(aggregate_class, args, kwargs)
            fields = kwargs
        return aggregate_class._create(aggregate_class._created_class, **fields)


def _creation_keywords(cls: type[Aggregate]) -> set[str]:
    """What an aggregate class without __init__ can be called with: its Created's fields, id."""
    return set(cls._created_class.__struct_fields__) - _BASE_FIELDS | {"id"}


def _without_init_error(
    cls: type[Aggregate], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> ArgumentError:
    name = cls.__qualname__
    names = sorted(_creation_keywords(cls) - {"id"})
    if args:
        given = "1 was" if len(args) == 1 else f"{len(args)} were"
        problem = f"{name}() takes no positional arguments but {given} given"
    else:
        unknown = sorted(set(kwargs) - _creation_keywords(cls))
        problem = f"{name}() got unexpected keyword arguments {unknown}"
    if names:
        takes = f"it takes its Created event's fields by name ({', '.join(names)}) and id"
    else:
        takes = "it takes only id, by name"
    return ArgumentError(
        f"{problem}: {name} has no __init__, so {takes}. To create it from other "
        f"arguments, give {name} an __init__ that takes them (decorated with @event to "
        "name its Created event) and stores them on self."
    )


class Aggregate(metaclass=AggregateMeta):
    """The base class of aggregates.

    Subclasses get their own ``Event``, ``Created`` and ``Snapshot`` classes, and an
    event class for every method decorated with ``@event``.
    """

    Event: ClassVar[type[AggregateEvent]] = AggregateEvent
    Created: ClassVar[type[AggregateCreated]] = AggregateCreated
    Snapshot: ClassVar[type[Snapshot]] = Snapshot

    class_version: ClassVar[int] = 1

    _created_class: ClassVar[type[AggregateCreated]] = AggregateCreated
    _init_body: ClassVar[Callable[..., Any] | None] = None
    _init_fields: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]] = ((), ())
    _init_start: ClassVar[int] = -1
    _init_binder: ClassVar[ArgumentBinder | None] = None
    _create_id_params: ClassVar[tuple[str, ...]] = ()

    _id: UUID
    _version: int
    _created_on: datetime
    _modified_on: datetime
    _pending_events: list[AggregateEvent]

    def __init__(self) -> None:
        """Aggregates without state of their own need no __init__."""

    @staticmethod
    def create_id(*args: Any, **kwargs: Any) -> UUID:
        """The id of a new aggregate: random unless overridden.

        Override it as a static method taking some of the creation arguments by
        name, to give aggregates ids derived from them.
        """
        return uuid4()

    @property
    def id(self) -> UUID:
        """The aggregate's id."""
        return self._id

    @property
    def version(self) -> int:
        """1 after creation, and one more for each event since."""
        return self._version

    @property
    def created_on(self) -> datetime:
        """When the aggregate was created (UTC)."""
        return self._created_on

    @property
    def modified_on(self) -> datetime:
        """When the aggregate's last event happened (UTC)."""
        return self._modified_on

    def collect_events(self) -> list[AggregateEvent]:
        """The events triggered since the last call (or since retrieval), now cleared."""
        events, self._pending_events = self._pending_events, []
        return events

    def trigger_event(self, event_class: type[AggregateEvent], /, **fields: Any) -> None:
        """Make the next event of this aggregate, apply it, and keep it until saved."""
        new_event = event_class(
            originator_id=self._id,
            originator_version=self._version + 1,
            timestamp=utcnow(),
            **fields,
        )
        new_event.mutate(self)
        self._pending_events.append(new_event)

    @classmethod
    def _create(cls: type[A], event_class: type[AggregateCreated], /, **fields: Any) -> A:
        """Create an aggregate by triggering `event_class` (for explicit creation methods).

        Pass ``id=...`` to choose the id; otherwise `create_id` makes it.
        """
        originator_id = fields.pop("id", None)
        if originator_id is None:
            originator_id = cls.create_id(**{k: fields[k] for k in cls._create_id_params})
        if not isinstance(originator_id, UUID):
            raise EventError(
                f"{cls.__qualname__}.create_id() returned {originator_id!r}: ids must be UUIDs"
            )
        created = event_class(
            originator_id=originator_id,
            originator_version=1,
            timestamp=utcnow(),
            originator_topic=get_topic(cls),
            **fields,
        )
        aggregate: A = created.mutate(None)  # type: ignore[assignment]
        aggregate._pending_events.append(created)
        return aggregate

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_topic(get_topic(cls), cls)
        _AggregateClassBuilder(cls).build()

    def __repr__(self) -> str:
        fields = [f"id={self._id}", f"version={self._version}"]
        fields += [f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")]
        return f"{type(self).__qualname__}({', '.join(fields)})"


class _AggregateClassBuilder:
    """Gives a new aggregate class its event classes, creation plan and triggers."""

    def __init__(self, cls: type[Aggregate]) -> None:
        self.cls = cls
        self.parent: type[Aggregate] = next(
            base for base in cls.__mro__[1:] if issubclass(base, Aggregate)
        )
        self.generated: set[type] = set()

    def build(self) -> None:
        self.make_base_event_classes()
        self.make_creation()
        for name, value in list(vars(self.cls).items()):
            if isinstance(value, EventDecorator) and name != "__init__":
                self.make_trigger(name, value)
        self.cls._create_id_params = tuple(
            name
            for name in inspect.signature(self.cls.create_id).parameters
            if name in self.cls._created_class.__struct_fields__
        )

    def make_base_event_classes(self) -> None:
        cls, parent, own = self.cls, self.parent, vars(self.cls)
        if "Event" not in own:
            self.generated.add(_event_subclass(cls, "Event", (parent.Event,)))
        if "Created" not in own:
            self.generated.add(_event_subclass(cls, "Created", (cls.Event, parent.Created)))
        if "Snapshot" not in own:
            self.generated.add(_event_subclass(cls, "Snapshot", (parent.Snapshot,)))
        cls.Snapshot._aggregate_class = cls
        cls.Snapshot.class_version = cls.class_version

    def make_creation(self) -> None:
        cls = self.cls
        init = vars(cls).get("__init__")
        if isinstance(init, EventDecorator):
            body: Callable[..., Any] | None = init.func
            created = self.created_class_for(init)
            setattr(cls, "__init__", init.func)  # noqa: B010 (plain function, not a marker)
        elif init is not None:
            body = init
            created = self.explicit_created_class() or self.generated_created_class(init)
        else:
            explicit = self.explicit_created_class()
            if explicit is None and self.parent is not Aggregate:
                return  # inherit the parent's way of creating
            body = None
            created = explicit or cls.Created
        cls._created_class = created
        cls._init_body = body
        if body is not None:
            binder = ArgumentBinder(body)
            cls._init_binder = binder
            cls._init_fields = (binder.positional, binder.keyword_only)
            self.check_fields_match(created, binder.names)
            cls._init_start = positional_start(created, binder.names, binder.positional)
        else:
            cls._init_binder = None
            cls._init_fields = ((), ())
            cls._init_start = -1

    def created_class_for(self, decorator: EventDecorator) -> type[AggregateCreated]:
        if isinstance(decorator.spec, type):
            if not issubclass(decorator.spec, AggregateCreated):
                raise EventError(
                    f"@event({decorator.spec.__qualname__}) on {self.cls.__qualname__}.__init__: "
                    "an __init__ event class must subclass Aggregate.Created"
                )
            return decorator.spec
        return self.generated_created_class(decorator.func, decorator.event_name())

    def generated_created_class(
        self, init: Callable[..., Any], name: str = "Created"
    ) -> type[AggregateCreated]:
        bases: tuple[type, ...] = (self.cls.Created,)
        if name == "Created":
            bases = (self.cls.Event, self.parent.Created)
        fields = self.checked_fields(init)
        created: type[AggregateCreated] = _event_subclass(self.cls, name, bases, fields)
        return created

    def explicit_created_class(self) -> type[AggregateCreated] | None:
        explicit = [
            value
            for value in vars(self.cls).values()
            if isinstance(value, type)
            and issubclass(value, AggregateCreated)
            and value not in self.generated
            and value.__qualname__.startswith(f"{self.cls.__qualname__}.")
        ]
        if len(explicit) > 1:
            names = ", ".join(sorted(c.__name__ for c in explicit))
            raise EventError(
                f"{self.cls.__qualname__} defines several Created classes ({names}): decorate "
                "__init__ with @event(TheOneToUse) to say which one creates it."
            )
        return explicit[0] if explicit else None

    def checked_fields(self, func: Callable[..., Any]) -> dict[str, Any]:
        types = field_types(func)
        reserved = sorted(set(types) & _BASE_FIELDS)
        if reserved:
            raise EventError(
                f"{func.__qualname__} has arguments named {reserved}: those names are taken "
                "by every event (originator_id, originator_version, timestamp, "
                "originator_topic). Rename them."
            )
        return types

    def check_fields_match(self, created: type[AggregateCreated], names: tuple[str, ...]) -> None:
        fields = set(created.__struct_fields__) - _BASE_FIELDS
        if fields != set(names):
            raise EventError(
                f"{self.cls.__qualname__}.__init__ takes {sorted(names)} but "
                f"{created.__qualname__} has fields {sorted(fields)}: they must be the same."
            )

    def make_trigger(self, name: str, decorator: EventDecorator) -> None:
        cls = self.cls
        func = decorator.func
        binder = ArgumentBinder(func)
        if isinstance(decorator.spec, type):
            event_class = decorator.spec
            if not issubclass(event_class, AggregateEvent) or issubclass(
                event_class, AggregateCreated
            ):
                raise EventError(
                    f"@event({event_class.__qualname__}) on {func.__qualname__}: the class "
                    "must subclass Aggregate.Event (and not Created)"
                )
            fields = set(event_class.__struct_fields__) - _BASE_FIELDS
            if fields != set(binder.names):
                raise EventError(
                    f"{func.__qualname__} takes {sorted(binder.names)} but "
                    f"{event_class.__qualname__} has fields {sorted(fields)}: "
                    "they must be the same."
                )
        else:
            event_name = decorator.event_name()
            existing = vars(cls).get(event_name)
            if existing is not None:
                raise EventError(
                    f"@event({event_name!r}) on {func.__qualname__}: {cls.__qualname__} already "
                    f"has an attribute {event_name!r}. Pass the class itself to @event, or "
                    "choose another name."
                )
            event_class = _event_subclass(cls, event_name, (cls.Event,), self.checked_fields(func))
        event_class._apply_body = func
        event_class._apply_fields = (binder.positional, binder.keyword_only)
        event_class._apply_start = positional_start(event_class, binder.names, binder.positional)
        setattr(cls, name, _make_trigger(func, binder, event_class))


def _make_trigger(
    func: Callable[..., Any], binder: ArgumentBinder, event_class: type[AggregateEvent]
) -> Callable[..., None]:
    def bound_trigger(self: Aggregate, *args: Any, **kwargs: Any) -> None:
        self.trigger_event(event_class, **binder.bind(args, kwargs))

    compiled = compile_trigger(func, event_class, utcnow, Aggregate.trigger_event)
    trigger: Any = compiled or bound_trigger  # compiled is None if a name would clash
    # The method's module, names, docstring and annotations, for get_type_hints(),
    # inspect.signature() and documentation tools.
    functools.update_wrapper(trigger, func)
    trigger.event_class = event_class
    return trigger  # type: ignore[no-any-return]
