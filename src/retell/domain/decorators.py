"""The ``@event`` decorator: a method whose call triggers an event and whose body applies it.

The decorator only marks the method. The aggregate class, when it is created, turns
each marked method into an event class (fields from the method's signature) and a
trigger. Binding call arguments uses a precomputed plan instead of
``inspect.Signature.bind``, which would cost more than the rest of a command.
"""

from __future__ import annotations

import inspect
import keyword
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from retell.errors import ArgumentError, EventError

F = TypeVar("F", bound=Callable[..., Any])

EventSpec = str | type | None
"""What @event was given: an event class name, an event class, or nothing."""


class ArgumentBinder:
    """Turns a call's positional and keyword arguments into a dict of named fields."""

    __slots__ = ("defaults", "keyword_only", "names", "positional", "qualname")

    def __init__(self, func: Callable[..., Any]) -> None:
        params = list(inspect.signature(func).parameters.values())[1:]  # skip self
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise EventError(
                    f"{func.__qualname__} takes *{param.name}: methods decorated with @event "
                    "must name each argument, so that each can be stored as an event field."
                )
        self.qualname = func.__qualname__
        self.names = tuple(p.name for p in params)
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
        if len(fields) != len(self.names):
            for name in self.names:
                if name not in fields:
                    if name not in self.defaults:
                        raise ArgumentError(f"{self.qualname}() missing argument {name!r}")
                    fields[name] = self.defaults[name]
        if len(fields) != len(self.names):
            unknown = sorted(set(fields) - set(self.names))
            raise ArgumentError(f"{self.qualname}() got unexpected keyword arguments {unknown}")
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
def make(event_class, defaults, now, base_trigger_event):
    def {name}({params}):
        if type(self).trigger_event is not base_trigger_event:
            return self.trigger_event(event_class{fields})
        new_event = event_class(
            originator_id=self._id,
            originator_version=self._version + 1,
            timestamp=now(){fields},
        )
        new_event.mutate(self)
        self._pending_events.append(new_event)
    return {name}
"""


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
    if set(names) & {"event_class", "defaults", "now", "base_trigger_event", "new_event"}:
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
    source = _TRIGGER_TEMPLATE.format(name=func.__name__, params=", ".join(rendered), fields=fields)
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    trigger: Callable[..., None] = namespace["make"](event_class, defaults, now, base_trigger_event)
    return trigger


class EventDecorator:
    """Marks a method as an event trigger until its aggregate class processes it."""

    def __init__(self, func: Callable[..., Any], spec: EventSpec) -> None:
        if not inspect.isfunction(func):
            raise EventError(f"@event decorates methods, not {func!r}")
        if isinstance(spec, str) and (not spec.isidentifier() or keyword.iskeyword(spec)):
            problem = "an event class needs a name" if not spec else "that is not a usable name"
            raise EventError(
                f"@event({spec!r}) on {func.__qualname__}: {problem}. The event class becomes "
                "an attribute of the aggregate class, so name it with a Python identifier, "
                "such as 'TrickAdded', or use a bare @event to name it after the method."
            )
        self.func = func
        self.spec = spec

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
    uses an explicit one, and a bare ``@event`` names it after the method.
    """
    if inspect.isfunction(spec):
        return EventDecorator(spec, None)
    if spec is not None and not isinstance(spec, str | type):
        raise EventError(f"@event takes an event class name (str) or an event class, not {spec!r}")

    def decorate(func: F) -> F:
        return EventDecorator(func, spec)  # type: ignore[return-value]

    return decorate
