"""`singledispatchmethod` for policies and projectors that name classes not defined yet.

`functools.singledispatchmethod` registers an implementation when the method is
decorated, so the class it dispatches on must exist then. A policy or an
aggregate's ``when()`` method often names an event class that does not: one
nested in the aggregate whose body is still running (``event: Dog.Registered``
inside ``class Dog``), or one defined further down the module, or annotated as a
string under ``from __future__ import annotations``. This version waits: what
cannot be registered yet is registered the first time the method is looked up,
when the module has been run. As in the `eventsourcing` library's
``eventsourcing.dispatch``.

It also takes the class as a string: ``@policy.register("Dog.Registered")`` (a
name looked up in the decorated function's module) or a topic
(``"dogschool.domain:Dog.Registered"``).
"""

from __future__ import annotations

import functools
import threading
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from retell.topics import resolve_topic

__all__ = ["singledispatchmethod"]

T = TypeVar("T")


class singledispatchmethod(functools.singledispatchmethod, Generic[T]):  # type: ignore[type-arg]  # noqa: N801 (the functools name)
    """`functools.singledispatchmethod` whose registrations may name classes defined later."""

    def __init__(self, func: Callable[..., T]) -> None:
        super().__init__(func)
        self._deferred: list[tuple[str | None, Callable[..., Any]]] = []
        self._lock = threading.Lock()

    def register(self, cls: Any, method: Callable[..., Any] | None = None) -> Any:
        """Register `method` for `cls`: a class, a union, a name or topic, or (as a
        decorator without `cls`) the annotation of the method's first argument."""
        if isinstance(cls, str):
            name = cls
            if method is None:
                return lambda func: self._defer(name, func)
            return self._defer(name, method)
        try:
            return super().register(cls, method)
        except (NameError, TypeError):
            # A forward reference that does not resolve yet (NameError up to Python
            # 3.13, TypeError after): try again when the method is first looked up.
            deferrable = callable(cls) or isinstance(cls, classmethod | staticmethod)
            if method is None and deferrable and not isinstance(cls, type):
                return self._defer(None, cls)
            raise

    def _defer(self, name: str | None, func: Callable[..., Any]) -> Callable[..., Any]:
        with self._lock:
            self._deferred.append((name, func))
        return func

    def _register_deferred(self, owner: type) -> None:
        with self._lock:
            while self._deferred:
                name, func = self._deferred[0]
                super().register(_resolve(name, func, owner), func)  # on failure, kept
                del self._deferred[0]

    def __get__(self, obj: Any, cls: type | None = None) -> Callable[..., T]:
        if self._deferred:
            self._register_deferred(cls if cls is not None else type(obj))
        method: Callable[..., T] = super().__get__(obj, cls)
        return method


def _resolve(name: str | None, func: Callable[..., Any], owner: type) -> Any:
    """The class a deferred registration names: its string, or its first argument's annotation.

    Names are looked up in the function's module, then in the class that owns the
    method (for event classes nested in it), then as the owner's own name.
    """
    localns = {**vars(owner), owner.__name__: owner}
    if name is None:
        hints = typing.get_type_hints(func, localns=localns)
        hints.pop("return", None)
        if not hints:
            raise TypeError(f"{func.__qualname__} has no annotated argument to dispatch on")
        return next(iter(hints.values()))
    if ":" in name:
        resolved = resolve_topic(name)
    else:
        first, *rest = name.split(".")
        namespace = {**getattr(func, "__globals__", {}), **localns}
        if first not in namespace:
            raise NameError(
                f"{func.__qualname__} is registered for {name!r}, but neither its module nor "
                f"{owner.__qualname__} has a name {first!r}: use a name defined there, or a "
                "topic ('package.module:Class.Nested')"
            )
        resolved = namespace[first]
        for attribute in rest:
            resolved = getattr(resolved, attribute)
    if not isinstance(resolved, type):
        raise TypeError(f"{name!r} names {resolved!r}, which is not a class")
    return resolved
