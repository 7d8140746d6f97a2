"""The ``@event`` decorator: a method whose call triggers an event and whose body applies it.

The decorator only marks the method. The aggregate class, when it is created, turns
each marked method into an event class (fields from the method's signature) and a
trigger. A property's setter can be marked too, on either side of ``@x.setter``.
Binding call arguments uses a precomputed plan instead of ``inspect.Signature.bind``,
which would cost more than the rest of a command.
"""

from __future__ import annotations

import enum
import inspect
import keyword
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

import msgspec

from retell.errors import AggregateDefinitionError, ArgumentError, EventNameError

F = TypeVar("F", bound=Callable[..., Any])

EventSpec = str | type | None
"""What @event was given: an event class name, an event class, or nothing."""


class ArgumentBinder:
    """Turns a call's positional and keyword arguments into a dict of named fields.

    `leading` names arguments taken before the function's own (an aggregate class
    whose annotations declare ``id`` takes the id first).
    """

    __slots__ = ("defaults", "keyword_only", "name_set", "names", "positional", "qualname")

    def __init__(self, func: Callable[..., Any], leading: tuple[str, ...] = ()) -> None:
        params = list(inspect.signature(func).parameters.values())[1:]  # skip self
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params[:0] = [inspect.Parameter(name, kind) for name in leading]
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise AggregateDefinitionError(
                    f"{func.__qualname__} takes *{param.name}: methods decorated with @event "
                    "must name each argument, so that each can be stored as an event field."
                )
        self.qualname = func.__qualname__
        self.names = tuple(p.name for p in params)
        self.name_set = frozenset(self.names)
        self.positional = tuple(p.name for p in params if p.kind is not p.KEYWORD_ONLY)
        self.keyword_only = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) > len(self.positional):
            raise ArgumentError(
                f"{self.qualname}() takes {len(self.positional)} positional arguments "
                f"but {len(args)} were given"
            )
        fields = dict(zip(self.positional, args, strict=False))
        for name, value in kwargs.items():
            if name in fields:
                raise ArgumentError(f"{self.qualname}() got multiple values for argument {name!r}")
            fields[name] = value
        if not fields.keys() <= self.name_set:
            unknown = sorted(set(fields) - self.name_set)
            raise ArgumentError(f"{self.qualname}() got unexpected keyword arguments {unknown}")
        if len(fields) != len(self.names):
            for name in self.names:
                if name not in fields:
                    if name not in self.defaults:
                        raise ArgumentError(f"{self.qualname}() missing argument {name!r}")
                    fields[name] = self.defaults[name]
        return fields


def field_types(func: Callable[..., Any]) -> dict[str, Any]:
    """The annotated type of each argument of `func` (after self); `Any` where there is none.

    An annotation that cannot be evaluated (a name defined after the class, say)
    becomes `Any`: its values are still stored, with their types tagged.
    """
    names = list(inspect.signature(func).parameters)[1:]
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
        for name, annotation in func.__annotations__.items():
            try:
                is_text = isinstance(annotation, str)
                hints[name] = eval(annotation, func.__globals__) if is_text else annotation
            except Exception:
                hints[name] = Any
    return {name: hints.get(name, Any) for name in names}


_TRIGGER_TEMPLATE = """
def make(event_class, template, replace, defaults, now, base_trigger_event):
    def {name}({params}):
        if type(self).trigger_event is not base_trigger_event:
            return self.trigger_event(event_class{fields})
        new_event = {construct}
            originator_id=self._id,
            originator_version=self._version + 1,
            timestamp=now(){fields},
        )
        new_event.mutate(self)
        self._pending_events.append(new_event)
    return {name}
"""

_GENERATED_NAMES = frozenset(
    {"event_class", "template", "replace", "defaults", "now", "base_trigger_event", "new_event"}
)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset, enum.Enum)


def event_template(event_class: type, given: Iterable[str]) -> Any | None:
    """An instance of `event_class` to copy with new values for every field in `given`.

    Copying an instance (``msgspec.structs.replace``) makes an event as fast as calling
    the class would without retell's metaclass, which costs Python 3.11 its fast path
    for calling a class. None when a field not given has a default that must be made
    anew for each event (a factory, a mutable value): then the class is called.
    """
    fields: tuple[str, ...] = event_class.__struct_fields__  # type: ignore[attr-defined]
    defaults: tuple[Any, ...] = event_class.__struct_defaults__  # type: ignore[attr-defined]
    given = set(given)
    offset = len(fields) - len(defaults)
    values: dict[str, Any] = {}
    for i, name in enumerate(fields):
        default = defaults[i - offset] if i >= offset else msgspec.NODEFAULT
        if name in given:
            values[name] = None  # replaced in every copy; construction does not check types
        elif default is msgspec.NODEFAULT or not isinstance(default, _IMMUTABLE):
            return None
        else:
            values[name] = default
    return event_class(**values)


def compile_trigger(
    func: Callable[..., Any],
    event_class: type,
    now: Callable[[], Any],
    base_trigger_event: Callable[..., Any],
) -> Callable[..., None] | None:
    """A trigger with the method's own signature, as generated code.

    Like the methods dataclasses generate: Python binds the arguments itself, which
    is several times faster than a generic ``*args, **kwargs`` wrapper. A subclass
    that overrides ``trigger_event`` still has it called. None when an argument's
    name would clash with the generated code's own names.
    """
    params = list(inspect.signature(func).parameters.values())[1:]
    names = [p.name for p in params]
    if set(names) & _GENERATED_NAMES or "timestamp" in names:  # timestamp: see trigger_event
        return None
    rendered, defaults = ["self"], {}
    for i, param in enumerate(params):
        first_keyword_only = i == 0 or params[i - 1].kind is not param.KEYWORD_ONLY
        if param.kind is param.KEYWORD_ONLY and first_keyword_only:
            rendered.append("*")
        text = param.name
        if param.default is not param.empty:
            defaults[param.name] = param.default
            text += f"=defaults[{param.name!r}]"
        rendered.append(text)
        if param.kind is param.POSITIONAL_ONLY and (
            i + 1 == len(params) or params[i + 1].kind is not param.POSITIONAL_ONLY
        ):
            rendered.append("/")
    fields = "".join(f", {n}={n}" for n in names)
    template = event_template(
        event_class, ["originator_id", "originator_version", "timestamp", *names]
    )
    construct = "event_class(" if template is None else "replace(template,"
    source = _TRIGGER_TEMPLATE.format(
        name=func.__name__, params=", ".join(rendered), fields=fields, construct=construct
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    trigger: Callable[..., None] = namespace["make"](
        event_class, template, msgspec.structs.replace, defaults, now, base_trigger_event
    )
    return trigger


class EventDecorator:
    """Marks a method (or a property's setter) as an event trigger until its class processes it.

    `prop` is the property when ``@event`` decorated one (above ``@x.setter``).
    """

    def __init__(
        self, func: Callable[..., Any], spec: EventSpec, prop: property | None = None
    ) -> None:
        if not inspect.isfunction(func):
            raise AggregateDefinitionError(f"@event decorates methods, not {func!r}")
        if isinstance(spec, str) and (not spec.isidentifier() or keyword.iskeyword(spec)):
            problem = "an event class needs a name" if not spec else "that is not a usable name"
            raise EventNameError(
                f"@event({spec!r}) on {func.__qualname__}: {problem}. The event class becomes "
                "an attribute of the aggregate class, so name it with a Python identifier, "
                "such as 'TrickAdded', or use a bare @event to name it after the method."
            )
        self.func = func
        self.spec = spec
        self.prop = prop

    def event_name(self) -> str:
        """The generated event class's name: the one given, or the method name in CamelCase."""
        if isinstance(self.spec, str):
            return self.spec
        if self.func.__name__ == "__init__":
            return "Created"
        return "".join(part.capitalize() for part in self.func.__name__.split("_") if part)


@overload
def event(spec: F) -> F: ...


@overload
def event(spec: str | type | None = None) -> Callable[[F], F]: ...


def event(spec: Any = None) -> Any:
    """Declare that calling a method triggers an event, and that its body applies it.

    ``@event("TrickAdded")`` names the generated event class, ``@event(TrickAdded)``
    uses an explicit one, and a bare ``@event`` names it after the method. On a
    property's setter (above or below ``@x.setter``) it needs a name or a class:
    assigning to the property then triggers the event.
    """
    if inspect.isfunction(spec):
        return EventDecorator(spec, None)
    if isinstance(spec, property):
        raise AggregateDefinitionError(
            f"@event on the property {_property_name(spec)}: give it the event's name or "
            "class, such as @event('NameUpdated'), since a property's name is no event name."
        )
    if spec is not None and not isinstance(spec, str | type):
        raise AggregateDefinitionError(
            f"@event takes an event class name (str) or an event class, not {spec!r}"
        )

    def decorate(func: F) -> F:
        if isinstance(func, property):
            if func.fset is None:
                raise AggregateDefinitionError(
                    f"@event on the property {_property_name(func)}, which has no setter: put "
                    "it on the setter (above or below @x.setter), whose call triggers the event."
                )
            marker: Any = EventDecorator(func.fset, spec, func)
            return marker
        return EventDecorator(func, spec)  # type: ignore[return-value]

    return decorate


triggers = event
"""Another name for `event`, as in the `eventsourcing` library."""


def _property_name(prop: property) -> str:
    accessor = prop.fget or prop.fset
    return getattr(accessor, "__qualname__", repr(prop))
