"""Values the transcoder tests store: subclasses of built-ins that are equal only to their
own type (so that a plain str, int, list or dict coming back is noticed), and a named tuple."""

from __future__ import annotations

from typing import Any, NamedTuple


class ExactStr(str):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and super().__eq__(other)

    def __hash__(self) -> int:
        return hash(str(self))


class ExactInt(int):
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and super().__eq__(other)

    def __hash__(self) -> int:
        return int(self)


class ExactList(list[Any]):
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class ExactDict(dict[Any, Any]):
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class Pair(NamedTuple):
    left: Any
    right: Any
