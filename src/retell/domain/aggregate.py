"""Aggregates: objects whose state is the result of applying their events in order.

Creating an aggregate (``Dog("Fido")``) does not run ``__init__`` directly: it
triggers the aggregate's Created event, and applying that event runs the body. So
the same code builds a new aggregate and rebuilds a stored one, and the two can
never disagree.

The styles of the `eventsourcing` library all work: ``@event`` methods, explicit
event classes, dataclass-style classes whose annotations define ``__init__``,
``@event`` on property setters, the ``@aggregate`` class decorator, and the class
keyword ``created_event_name``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar, overload
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
    DomainEvent,
    Snapshot,
    is_classvar,
    now_utc,
    positional_start,
)
from retell.errors import AggregateDefinitionError, ArgumentError
from retell.topics import get_topic, register_topic

A = TypeVar("A", bound="Aggregate")
E = TypeVar("E", bound=AggregateEvent)
T = TypeVar("T")

_BASE_FIELDS = frozenset(AggregateCreated.__struct_fields__)
TIMESTAMP = "timestamp"  # the one base field a method may take: it times the event


def _event_subclass(
    owner: type, name: str, bases: tuple[type, ...], fields: dict[str, Any] | None = None
) -> Any:
    """Make an event class nested in `owner`, with a topic that resolves to it."""
    namespace = {
        "__annotations__": dict(fields or {}),
        "__module__": owner.__module__,
        "__qualname__": f"{owner.__qualname__}.{name}",
    }
    cls = types.new_class(name, bases, {"frozen": True}, _filler(namespace))
    register_topic(get_topic(cls), cls)
    setattr(owner, name, cls)
    return cls


def _filler(namespace: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The `exec_body` of `types.new_class` for a class body that is `namespace`."""

    def fill(ns: dict[str, Any]) -> None:
        ns.update(namespace)

    return fill


def _own_fields(event_class: type) -> set[str]:
    """The fields of an event class that a method or ``__init__`` supplies."""
    fields: tuple[str, ...] = event_class.__struct_fields__  # type: ignore[attr-defined]
    not_init: frozenset[str] = getattr(event_class, "_not_init_fields", frozenset())
    return set(fields) - _BASE_FIELDS - not_init


def _fields_mismatch(event_class: type, names: tuple[str, ...]) -> bool:
    """Whether a method taking `names` cannot make and apply `event_class`: each argument
    must be a field, and each field one of the arguments, unless it has a default."""
    fields: tuple[str, ...] = event_class.__struct_fields__  # type: ignore[attr-defined]
    defaults: tuple[Any, ...] = event_class.__struct_defaults__  # type: ignore[attr-defined]
    required = {
        name
        for name, default in zip(fields[len(fields) - len(defaults) :], defaults, strict=True)
        if default is msgspec.NODEFAULT
    } | set(fields[: len(fields) - len(defaults)])
    own = _own_fields(event_class)
    return not set(names) <= own or not (own & required) <= set(names)


class AggregateMeta(type):
    """Makes calling an aggregate class trigger its Created event."""

    # Returning Any lets type checkers check calls against __init__'s signature.
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        aggregate_class: type[Aggregate] = cls  # type: ignore[assignment]
        created = aggregate_class._created_class
        if created is None:
            raise _undecided_error(aggregate_class)
        binder = aggregate_class._init_binder
        if binder is not None:
            fields = binder.bind(args, kwargs)
        else:
            if args or (kwargs and not kwargs.keys() <= _creation_keywords(aggregate_class)):
                raise _without_init_error(aggregate_class, args, kwargs)
            fields = kwargs
        return aggregate_class._create(created, **fields)


def _creation_keywords(cls: type[Aggregate]) -> set[str]:
    """What an aggregate class without __init__ can be called with: its Created's fields, id."""
    created = cls._created_class
    return (_own_fields(created) if created is not None else set()) | {"id"}


def _refuse_not_init(event_class: type[AggregateEvent], fields: dict[str, Any]) -> None:
    given = sorted(event_class._not_init_fields.intersection(fields))
    if given:
        raise ArgumentError(
            f"{event_class.__qualname__} got {given}: declared with field(init=False), they "
            "take their values from their default or default_factory, not from arguments."
        )


def _checked_id(value: Any, where: str) -> UUID | str:
    """An id that is a subclass of UUID or str, as the plain type (which stores and the
    transcoder take fast, and which reads give back); anything else is refused."""
    if isinstance(value, UUID):
        return UUID(int=value.int)
    if isinstance(value, str):
        return str.__str__(value)
    raise AggregateDefinitionError(f"{where} {value!r}: ids must be UUIDs or strs")


def _undecided_error(cls: type[Aggregate]) -> AggregateDefinitionError:
    names = ", ".join(sorted(c.__name__ for c in _explicit_created_classes(cls).values()))
    return AggregateDefinitionError(
        f"{cls.__qualname__} defines several Created classes ({names}), so calling it cannot "
        "tell which one creates it: name it with the class keyword created_event_name= (or "
        "@event(TheOneToUse) on __init__), or create with "
        f"{cls.__qualname__}._create(TheOneToUse, ...)."
    )


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
    event class for every method decorated with ``@event``. The class keyword
    ``created_event_name`` names the Created event class (``class Dog(Aggregate,
    created_event_name="Registered")``), or picks one of several defined in the class.

    Two aggregates are equal when they are of the same class and have the same state
    (id, version, timestamps, attributes and pending events), as in the
    `eventsourcing` library. Being mutable, aggregates are not hashable.
    """

    Event: ClassVar[type[AggregateEvent]] = AggregateEvent
    Created: ClassVar[type[AggregateCreated]] = AggregateCreated
    Snapshot: ClassVar[type[Snapshot]] = Snapshot

    class_version: ClassVar[int] = 1
    INITIAL_VERSION: ClassVar[int] = 1
    """The version of a new aggregate (its Created event's); set it to start elsewhere."""

    # The creation plan, made when the class is: None when several Created classes
    # are defined and none is named, so that only _create(event_class) can create.
    _created_class: ClassVar[type[AggregateCreated] | None] = AggregateCreated
    _init_body: ClassVar[Callable[..., Any] | None] = None
    _init_fields: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]] = ((), ())
    _init_start: ClassVar[int] = -1
    _init_takes_id: ClassVar[bool] = False  # __init__ has an `id` argument, given the id
    _init_binder: ClassVar[ArgumentBinder | None] = None
    _create_id_params: ClassVar[tuple[str, ...]] = ()

    _id: UUID | str
    _version: int
    _created_on: datetime
    _modified_on: datetime
    _pending_events: list[AggregateEvent]

    def __init__(self) -> None:
        """Aggregates without state of their own need no __init__."""

    @staticmethod
    def create_id(*args: Any, **kwargs: Any) -> UUID | str:
        """The id of a new aggregate: a random UUID unless overridden.

        Override it as a static method taking some of the creation arguments by
        name, to give aggregates ids derived from them: a UUID (``uuid5``) or a str
        (a stream name such as ``f"dog-{name}"``; SQL stores need
        ``ORIGINATOR_ID_TYPE=text`` for those).
        """
        return uuid4()

    @property
    def id(self) -> UUID | str:
        """The aggregate's id."""
        return self._id

    @property
    def version(self) -> int:
        """1 (`INITIAL_VERSION`) after creation, and one more for each event since."""
        return self._version

    @property
    def created_on(self) -> datetime:
        """When the aggregate was created (UTC)."""
        return self._created_on

    @property
    def modified_on(self) -> datetime:
        """When the aggregate's last event happened (UTC)."""
        return self._modified_on

    @property
    def pending_events(self) -> list[AggregateEvent]:
        """The events triggered since the last `collect_events()`, not cleared."""
        return self._pending_events

    def collect_events(self) -> list[AggregateEvent]:
        """The events triggered since the last call (or since retrieval), now cleared."""
        events, self._pending_events = self._pending_events, []
        return events

    def trigger_event(self, event_class: type[AggregateEvent], /, **fields: Any) -> None:
        """Make the next event of this aggregate, apply it, and keep it until saved.

        ``timestamp=`` sets the event's time; by default, the event class's
        ``create_timestamp()``.
        """
        timestamp = fields.pop("timestamp", None) or event_class.create_timestamp()
        if event_class._not_init_fields:
            _refuse_not_init(event_class, fields)
        new_event = event_class(
            originator_id=self._id,
            originator_version=self._version + 1,
            timestamp=timestamp,
            **fields,
        )
        new_event.mutate(self)
        self._pending_events.append(new_event)

    @classmethod
    def _create(
        cls: type[A],
        event_class: type[AggregateCreated],
        *,
        id: UUID | str | None = None,
        timestamp: datetime | None = None,
        **fields: Any,
    ) -> A:
        """Create an aggregate by triggering `event_class` (for explicit creation methods).

        ``id=`` chooses the id (otherwise `create_id` makes it); ``timestamp=`` the
        time of creation (otherwise the event class's ``create_timestamp()``).
        """
        originator_id = id
        if originator_id is None:
            originator_id = cls.create_id(**{k: fields[k] for k in cls._create_id_params})
            if type(originator_id) is not UUID and type(originator_id) is not str:
                where = f"{cls.__qualname__}.create_id() returned"
                originator_id = _checked_id(originator_id, where)
        elif type(originator_id) is not UUID and type(originator_id) is not str:
            originator_id = _checked_id(originator_id, f"{cls.__qualname__} was given the id")
        if event_class._not_init_fields:
            _refuse_not_init(event_class, fields)
        created = event_class(
            originator_id=originator_id,
            originator_version=cls.INITIAL_VERSION,
            timestamp=timestamp or event_class.create_timestamp(),
            originator_topic=get_topic(cls),
            **fields,
        )
        aggregate: A = created.mutate(None)  # type: ignore[assignment]
        aggregate._pending_events.append(created)
        return aggregate

    def __init_subclass__(cls, *, created_event_name: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_topic(get_topic(cls), cls)
        _AggregateClassBuilder(cls, created_event_name).build()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = [f"id={self._id}", f"version={self._version}"]
        fields += [f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")]
        return f"{type(self).__qualname__}({', '.join(fields)})"


@overload
def aggregate(cls: type[T], /) -> type[T]: ...


@overload
def aggregate(created_event_name: str, /) -> Callable[[type[T]], type[T]]: ...


@overload
def aggregate(*, created_event_name: str) -> Callable[[type[T]], type[T]]: ...


def aggregate(cls: Any = None, /, *, created_event_name: str = "") -> Any:
    """Make a plain class an aggregate: ``@aggregate``, ``@aggregate("Started")`` or
    ``@aggregate(created_event_name="Started")``.

    The result is a new class, of the same name, that subclasses `Aggregate` as well
    as the plain class's bases: the same as writing ``class Todo(Aggregate)``, which
    type checkers and IDEs understand better.
    """
    if isinstance(cls, str):
        created_event_name, cls = cls, None
    if cls is None:
        return functools.partial(_make_aggregate, created_event_name=created_event_name)
    return _make_aggregate(cls, created_event_name=created_event_name)


def _make_aggregate(cls: Any, *, created_event_name: str) -> type[Aggregate]:
    if not isinstance(cls, type):
        raise AggregateDefinitionError(f"@aggregate decorates classes, not {cls!r}")
    if issubclass(cls, Aggregate):
        raise AggregateDefinitionError(
            f"{cls.__qualname__} is already an Aggregate: @aggregate is for plain classes"
        )
    # The plain class's own __dict__ and __weakref__ descriptors would not work on
    # instances of the new class, which gets its own.
    namespace = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
    namespace["__qualname__"] = cls.__qualname__
    bases = (*(b for b in cls.__bases__ if b is not object), Aggregate)
    new: Any = AggregateMeta(cls.__name__, bases, namespace, created_event_name=created_event_name)
    return new  # type: ignore[no-any-return]


def _explicit_created_classes(cls: type) -> dict[str, type[AggregateCreated]]:
    """The Created classes written in `cls`'s body (not generated, not inherited)."""
    return {
        name: value
        for name, value in vars(cls).items()
        if isinstance(value, type)
        and issubclass(value, AggregateCreated)
        and value.__qualname__ == f"{cls.__qualname__}.{value.__name__}"
        and not vars(value).get("_generated", False)
    }


class _AggregateClassBuilder:
    """Gives a new aggregate class its event classes, creation plan and triggers."""

    def __init__(self, cls: type[Aggregate], created_event_name: str) -> None:
        self.cls = cls
        self.created_event_name = created_event_name
        self.parent: type[Aggregate] = next(
            base for base in cls.__mro__[1:] if issubclass(base, Aggregate)
        )
        self.id_in_annotations = False
        self.redefined: dict[type, type] = {}  # event classes of the body -> their subclasses

    def build(self) -> None:
        if self.created_event_name and not self.created_event_name.isidentifier():
            raise AggregateDefinitionError(
                f"{self.cls.__qualname__}: created_event_name={self.created_event_name!r} "
                "cannot name a class: use a Python identifier, such as 'Registered'."
            )
        create_id = vars(self.cls).get("create_id")
        if inspect.isfunction(create_id):  # as in the eventsourcing library
            raise AggregateDefinitionError(
                f"{self.cls.__qualname__}.create_id is not a static or class method: it is "
                "called before the aggregate exists, so decorate it with @staticmethod and "
                "let it take some of the creation arguments by name."
            )
        self.keep_own_methods()
        self.make_dataclass_init()
        self.make_base_event_classes()
        self.redefine_event_classes()
        self.make_creation()
        for name, value in list(vars(self.cls).items()):
            if isinstance(value, EventDecorator) and name != "__init__":
                trigger: Any = self.make_trigger(value)
                if value.prop is not None:  # @event above @x.setter
                    prop = value.prop
                    trigger = property(prop.fget, trigger, prop.fdel, prop.__doc__)
                setattr(self.cls, name, trigger)
            elif isinstance(value, property) and isinstance(value.fset, EventDecorator):
                # @event below @x.setter
                if value.fset.spec is None:
                    raise AggregateDefinitionError(
                        f"@event on the setter of {self.cls.__qualname__}.{name}: give it the "
                        "event's name or class, such as @event('NameUpdated'), since a "
                        "property's name is no event name."
                    )
                trigger = self.make_trigger(value.fset)
                setattr(self.cls, name, property(value.fget, trigger, value.fdel, value.__doc__))
        created = self.cls._created_class
        self.cls._create_id_params = tuple(
            name
            for name in inspect.signature(self.cls.create_id).parameters
            if created is not None and name in created.__struct_fields__
        )

    def keep_own_methods(self) -> None:
        """Put equality and repr in the class's own namespace.

        ``@dataclass`` on an aggregate class (for IDEs' sake, as the `eventsourcing`
        library's documentation suggests) replaces only what a class does not define
        itself: it would otherwise compare aggregates by their fields alone.
        """
        for name in ("__eq__", "__repr__", "__hash__"):
            if name not in vars(self.cls):
                setattr(self.cls, name, getattr(self.cls, name))

    def make_dataclass_init(self) -> None:
        """Give a class whose annotations declare its state the ``__init__`` a dataclass gets.

        Only a class without an ``__init__`` of its own, whose parent has none either
        (or is itself dataclass-style): elsewhere annotations merely declare types.
        An ``id`` annotation makes the class take the aggregate's id, first.
        """
        cls, parent = self.cls, self.parent
        own = vars(cls)
        annotations: dict[str, Any] = own.get("__annotations__", {})
        if "__init__" in own:
            return
        id_in_annotations = "id" in annotations
        has_fields = any(not is_classvar(v) for k, v in annotations.items() if k != "id")
        parent_is_dataclass = dataclasses.is_dataclass(parent)
        if not (has_fields or id_in_annotations or parent_is_dataclass):
            return
        if parent._init_body is not None and not parent_is_dataclass:
            return
        if id_in_annotations:
            self.id_in_annotations = True
            cls.__annotations__ = {k: v for k, v in annotations.items() if k != "id"}
        declared = {
            name: value
            for name, value in own.items()
            if isinstance(value, dataclasses.Field) and value.default is dataclasses.MISSING
        }
        dataclasses.dataclass(eq=False, repr=False)(cls)
        # dataclass() removed these from the class. Put them back, so that @dataclass
        # applied again (by the user, for IDEs' sake) finds the same fields.
        for name, value in declared.items():
            setattr(cls, name, value)

    def make_base_event_classes(self) -> None:
        cls, parent, own = self.cls, self.parent, vars(self.cls)
        if "Event" not in own:
            _generated(_event_subclass(cls, "Event", (parent.Event,)))
        if "Created" not in own:
            _generated(_event_subclass(cls, "Created", (cls.Event, parent.Created)))
        if "Snapshot" not in own:
            _generated(_event_subclass(cls, "Snapshot", (parent.Snapshot,)))
        cls.Snapshot._aggregate_class = cls
        cls.Snapshot.class_version = cls.class_version

    def redefine_event_classes(self) -> None:
        """Make the event classes written in the class body subclasses of its ``Event``.

        As in the `eventsourcing` library: so every event of the aggregate is an
        ``Aggregate.Event`` of its own class, and what the aggregate's ``Event``
        defines (fields, ``apply``) holds for them all. Each class is replaced by a
        subclass of itself of the same name, so code that kept the original (a
        ``@when.register`` in the body, say) still matches it.
        """
        cls, base = self.cls, self.cls.Event
        for name, value in list(vars(cls).items()):
            if (
                name == "Event"
                or name.lower() == name
                or not isinstance(value, type)
                or not issubclass(value, AggregateEvent)
                or issubclass(value, base)
                or value.__qualname__ != f"{cls.__qualname__}.{name}"
            ):
                continue
            inherited = [self.redefined[b] for b in value.__bases__ if b in self.redefined]
            namespace: dict[str, Any] = {
                "__module__": value.__module__,
                "__qualname__": value.__qualname__,
                "__doc__": value.__doc__,
            }
            if "TOPIC" in vars(value):  # the stored name stays the same
                namespace["TOPIC"] = vars(value)["TOPIC"]
            try:
                redefined = types.new_class(
                    name, (value, *inherited, base), {"frozen": True}, _filler(namespace)
                )
            except AggregateDefinitionError:
                raise AggregateDefinitionError(
                    f"{value.__qualname__} and {base.__qualname__} both have fields, so "
                    f"{value.__qualname__} cannot be made a {base.__qualname__} as well: "
                    f"subclass {base.__qualname__} in its definition."
                ) from None
            setattr(cls, name, redefined)
            self.redefined[value] = redefined

    def make_creation(self) -> None:
        cls, parent, name = self.cls, self.parent, self.created_event_name
        init = vars(cls).get("__init__")
        explicit = _explicit_created_classes(cls)
        created: type[AggregateCreated] | None
        if isinstance(init, EventDecorator):
            body: Callable[..., Any] | None = init.func
            setattr(cls, "__init__", init.func)  # noqa: B010 (plain function, not a marker)
            created = self.created_class_for(init, explicit)
        else:
            if init is not None:
                body = init
            elif not (name or explicit) and parent is not Aggregate:
                return  # inherit the parent's way of creating
            else:
                body = parent._init_body  # None, or an inherited __init__
            if name:
                created = explicit.get(name) or self.generated_created_class(body, name)
            elif len(explicit) > 1:
                created = None  # only _create(event_class) can tell; calling the class says so
            elif explicit:
                (created,) = explicit.values()
            elif body is not None and init is not None:
                created = self.generated_created_class(body)
            else:
                created = cls.Created
        cls._created_class = created
        cls._init_body = body
        if body is not None:
            takes_id = "id" in inspect.signature(body).parameters
            leading = ("id",) if self.id_in_annotations and not takes_id else ()
            binder = ArgumentBinder(body, leading)
            own_binder = ArgumentBinder(body)
            cls._init_binder = binder
            cls._init_fields = (own_binder.positional, own_binder.keyword_only)
            cls._init_takes_id = takes_id
            names = tuple(n for n in own_binder.names if n not in ("id", TIMESTAMP))
            if created is not None:
                self.check_fields_match(created, names)
            cls._init_start = (
                positional_start(created, names, own_binder.positional)
                if created is not None and not takes_id
                else -1
            )
        else:
            cls._init_binder = None
            cls._init_fields = ((), ())
            cls._init_start = -1
            cls._init_takes_id = False

    def created_class_for(
        self, decorator: EventDecorator, explicit: dict[str, type[AggregateCreated]]
    ) -> type[AggregateCreated]:
        """The Created class an ``@event`` on ``__init__`` names, made if need be."""
        spec, wanted = decorator.spec, self.created_event_name
        spec = self.redefined.get(spec, spec) if isinstance(spec, type) else spec
        if isinstance(spec, type):
            if not issubclass(spec, AggregateCreated):
                raise AggregateDefinitionError(
                    f"@event({spec.__qualname__}) on {self.cls.__qualname__}.__init__: "
                    "an __init__ event class must subclass Aggregate.Created"
                )
            if wanted and wanted != spec.__name__:
                raise self.conflict(spec.__name__)
            return spec
        name = decorator.event_name() if spec is not None else (wanted or "Created")
        if wanted and wanted != name:
            raise self.conflict(name)
        return explicit.get(name) or self.generated_created_class(decorator.func, name)

    def conflict(self, name: str) -> AggregateDefinitionError:
        return AggregateDefinitionError(
            f"{self.cls.__qualname__} has created_event_name={self.created_event_name!r} but "
            f"its __init__ is decorated to trigger {name}: name one Created event, once."
        )

    def generated_created_class(
        self, init: Callable[..., Any] | None, name: str = "Created"
    ) -> type[AggregateCreated]:
        bases: tuple[type, ...] = (self.cls.Created,)
        if name == "Created":
            bases = (self.cls.Event, self.parent.Created)
        fields = self.checked_fields(init) if init is not None else {}
        fields.pop("id", None)  # an __init__ that takes the id gets the event's originator_id
        created: type[AggregateCreated] = _generated(_event_subclass(self.cls, name, bases, fields))
        return created

    def checked_fields(self, func: Callable[..., Any]) -> dict[str, Any]:
        types = field_types(func)
        # A `timestamp` argument is the event's own timestamp, as in the eventsourcing
        # library: given, it times the event; the body gets the event's timestamp.
        types.pop(TIMESTAMP, None)
        reserved = sorted(set(types) & _BASE_FIELDS)
        if reserved:
            raise AggregateDefinitionError(
                f"{func.__qualname__} has arguments named {reserved}: those names are taken "
                "by every event (originator_id, originator_version, originator_topic). "
                "Rename them."
            )
        return types

    def check_fields_match(self, created: type[AggregateCreated], names: tuple[str, ...]) -> None:
        if _fields_mismatch(created, names):
            raise AggregateDefinitionError(
                f"{self.cls.__qualname__}.__init__ takes {sorted(names)} but "
                f"{created.__qualname__} has fields {sorted(_own_fields(created))}: they "
                "must be the same (fields with defaults may be left out)."
            )

    def make_trigger(self, decorator: EventDecorator) -> Callable[..., None]:
        cls = self.cls
        func = decorator.func
        binder = ArgumentBinder(func)
        if isinstance(decorator.spec, type):
            event_class = self.redefined.get(decorator.spec, decorator.spec)
            if not issubclass(event_class, AggregateEvent) or issubclass(
                event_class, AggregateCreated
            ):
                raise AggregateDefinitionError(
                    f"@event({event_class.__qualname__}) on {func.__qualname__}: the class "
                    "must subclass Aggregate.Event (and not Created)"
                )
            if "_apply_body" in vars(event_class):
                raise AggregateDefinitionError(
                    f"@event({event_class.__qualname__}) on {func.__qualname__}: another "
                    f"method triggers {event_class.__qualname__} already, and an event class "
                    "can be applied by one method body only."
                )
            if _fields_mismatch(event_class, tuple(n for n in binder.names if n != TIMESTAMP)):
                raise AggregateDefinitionError(
                    f"{func.__qualname__} takes {sorted(binder.names)} but "
                    f"{event_class.__qualname__} has fields {sorted(_own_fields(event_class))}: "
                    "they must be the same (fields with defaults may be left out)."
                )
        else:
            event_name = decorator.event_name()
            existing = vars(cls).get(event_name)
            if existing is not None:
                raise AggregateDefinitionError(
                    f"@event({event_name!r}) on {func.__qualname__}: {cls.__qualname__} already "
                    f"has an attribute {event_name!r}. Pass the class itself to @event, or "
                    "choose another name."
                )
            event_class = _event_subclass(cls, event_name, (cls.Event,), self.checked_fields(func))
        event_class._apply_body = func
        event_class._apply_fields = (binder.positional, binder.keyword_only)
        event_class._apply_start = positional_start(event_class, binder.names, binder.positional)
        event_class._make_plan()
        return _make_trigger(func, binder, event_class)


def _generated(event_class: Any) -> Any:
    """Mark an event class as made by retell, not written in the aggregate's body."""
    event_class._generated = True
    return event_class


def _make_trigger(
    func: Callable[..., Any], binder: ArgumentBinder, event_class: type[AggregateEvent]
) -> Callable[..., None]:
    def bound_trigger(self: Aggregate, *args: Any, **kwargs: Any) -> None:
        self.trigger_event(event_class, **binder.bind(args, kwargs))

    now = event_class.create_timestamp
    if now is DomainEvent.create_timestamp:  # not overridden: skip a function call per event
        now = now_utc
    compiled = compile_trigger(func, event_class, now, Aggregate.trigger_event)
    trigger: Any = compiled or bound_trigger  # compiled is None if a name would clash
    # The method's module, names, docstring and annotations, for get_type_hints(),
    # inspect.signature() and documentation tools.
    functools.update_wrapper(trigger, func)
    trigger.event_class = event_class
    return trigger  # type: ignore[no-any-return]
