"""Type variables and aliases that annotations written for the `eventsourcing` library use.

`TAggregateID` is the type parameter of the classes that library makes generic in
their aggregates' id type (``Application[UUID]``, ``Repository[UUID]``, the
runners): retell's classes take the subscript too, so that such code runs. It
changes nothing at run time; a bare ``Application`` means ``Application[Any]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    # A default (PEP 696) lets type checkers take a bare ``Application`` as
    # ``Application[Any]``; Python 3.11's TypeVar has no default at run time.
    from typing_extensions import TypeVar as TypeVarWithDefault

    TAggregateID = TypeVarWithDefault("TAggregateID", default=Any)
else:
    TAggregateID = TypeVar("TAggregateID")

TAggregate = TypeVar("TAggregate")
TEvent = TypeVar("TEvent")

MutatorFunction: TypeAlias = Callable[[TEvent, TAggregate | None], TAggregate | None]
"""Applies one event to an aggregate: ``f(event, aggregate_or_None) -> aggregate_or_None``.

The `eventsourcing` library's annotation for a function that evolves an aggregate
one event at a time. `Repository.get` takes a `ProjectorFunction`, which folds them
all: ``lambda aggregate, events: functools.reduce(lambda a, e: mutate(e, a), events,
aggregate)`` turns one into the other.
"""
