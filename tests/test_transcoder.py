"""The transcoder: every supported type round-trips, typed or loose; upcasting; custom types."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retell import Aggregate, Application, event
from retell.domain.events import AggregateEvent
from retell.errors import TranscodingError
from retell.persistence.transcoder import Transcoder


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    label: str
    at: datetime


@dataclasses.dataclass(frozen=True)
class Loose:
    anything: Any


class Everything(AggregateEvent, frozen=True, kw_only=True):
    text: str
    number: int
    ratio: float
    flag: bool
    nothing: None
    items: list[int]
    mapping: dict[str, int]
    pair: tuple[int, str]
    ident: UUID
    when: datetime
    day: date
    amount: Decimal
    colour: Colour
    size: Size
    point: Point
    points: list[Point]
    maybe: UUID | None
    anything: Any


def event_with(**overrides: Any) -> Everything:
    values: dict[str, Any] = dict(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        text="x",
        number=1,
        ratio=0.5,
        flag=True,
        nothing=None,
        items=[1],
        mapping={"a": 1},
        pair=(1, "a"),
        ident=uuid4(),
        when=datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        day=date(2024, 1, 2),
        amount=Decimal("1.10"),
        colour=Colour.RED,
        size=Size.LARGE,
        point=Point(1, "p", datetime(2020, 1, 1, tzinfo=UTC)),
        points=[],
        maybe=None,
        anything=None,
    )
    values.update(overrides)
    return Everything(**values)


aware_datetimes = st.datetimes(timezones=st.just(UTC))
plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
loose_leaves = st.one_of(
    plain,
    st.uuids(),
    aware_datetimes,
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from(Colour),
    st.sampled_from(Size),
    st.builds(Point, st.integers(), st.text(), aware_datetimes),
    st.binary(),
)
loose_values = st.recursive(
    loose_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(), children, max_size=4),
        st.dictionaries(st.integers(), children, max_size=3),
        st.frozensets(st.integers(), max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(),
    number=st.integers(min_value=-(2**63), max_value=2**64),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    items=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    mapping=st.dictionaries(st.text(), st.integers(min_value=0, max_value=2**63 - 1)),
    ident=st.uuids(),
    when=aware_datetimes,
    day=st.dates(),
    amount=st.decimals(allow_nan=False, allow_infinity=False),
    colour=st.sampled_from(Colour),
    points=st.lists(st.builds(Point, st.integers(-1000, 1000), st.text(), aware_datetimes)),
    maybe=st.one_of(st.none(), st.uuids()),
    anything=loose_values,
)
def test_every_supported_type_round_trips(**values: Any) -> None:
    transcoder = Transcoder()
    original = event_with(**values)
    decoded = transcoder.decode(Everything, transcoder.encode(original))
    assert decoded == original
    assert type(decoded.anything) is type(original.anything)


@settings(max_examples=200, deadline=None)
@given(value=loose_values)
def test_loose_values_keep_their_types(value: Any) -> None:
    transcoder = Transcoder()
    original = event_with(anything=value)
    decoded = transcoder.decode(Everything, transcoder.encode(original))
    assert decoded.anything == value
    assert _types(decoded.anything) == _types(value)


def _types(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return (type(value), [_types(v) for v in value])
    if isinstance(value, dict):
        return (dict, sorted((repr(k), _types(v)) for k, v in value.items()))
    return type(value)


def test_a_dict_that_looks_like_a_tag_is_kept_as_a_dict() -> None:
    transcoder = Transcoder()
    tricky = {"__t": "uuid", "v": "not a uuid"}
    decoded = transcoder.decode(Everything, transcoder.encode(event_with(anything=tricky)))
    assert decoded.anything == tricky


def test_wrong_types_are_refused_with_the_field_named() -> None:
    transcoder = Transcoder()
    with pytest.raises(TranscodingError, match=r"Everything.*\$\.number"):
        transcoder.encode(event_with(number="one"))
    with pytest.raises(TranscodingError, match="Expected `float`"):
        transcoder.encode(event_with(ratio=float("nan")))


def test_unsupported_types_name_the_registration_hook() -> None:
    class Money:
        pass

    with pytest.raises(TranscodingError, match=r"Transcoder\.register"):
        Transcoder().encode(event_with(anything=Money()))


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents

    def __hash__(self) -> int:
        return self.cents


class Priced(AggregateEvent, frozen=True, kw_only=True):
    price: Money
    extras: Any


def test_registered_types_round_trip_typed_and_loose() -> None:
    transcoder = Transcoder()
    transcoder.register(Money, "money", lambda m: m.cents, Money)
    original = Priced(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        price=Money(250),
        extras=[Money(1), {"tip": Money(2)}],
    )
    data = transcoder.encode(original)
    assert transcoder.decode(Priced, data) == original
    with pytest.raises(TranscodingError, match="not registered"):
        Transcoder().decode(Priced, data)


def test_builtin_tag_names_cannot_be_registered() -> None:
    with pytest.raises(TranscodingError, match="built-in"):
        Transcoder().register(Money, "uuid", lambda m: m.cents, Money)


def test_upcasting_old_events() -> None:
    transcoder = Transcoder()

    class Renamed(AggregateEvent, frozen=True, kw_only=True):
        name: str

    old = Renamed(
        originator_id=uuid4(), originator_version=2, timestamp=datetime.now(UTC), name="a"
    )
    stored_v1 = transcoder.encode(old)

    class Renamed2(AggregateEvent, frozen=True, kw_only=True):  # the class, two releases later
        name: str
        language: str
        formal: bool

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = "en"

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["formal"] = state["language"] != "en"

    new = transcoder.decode(Renamed2, stored_v1)
    assert (new.name, new.language, new.formal) == ("a", "en", False)
    assert new.originator_id == old.originator_id
    stored_v3 = transcoder.encode(new)
    assert stored_v3.startswith(b'{"_v":3,')
    assert transcoder.decode(Renamed2, stored_v3) == new

    class Missing(AggregateEvent, frozen=True, kw_only=True):
        name: str
        class_version = 2

    with pytest.raises(TranscodingError, match="upcast_v1_v2"):
        transcoder.decode(Missing, stored_v1)

    class Older(AggregateEvent, frozen=True, kw_only=True):
        name: str
        language: str
        formal: bool

    with pytest.raises(TranscodingError, match="newer than this code"):
        transcoder.decode(Older, stored_v3)


def test_upcasting_snapshots_with_the_aggregates_upcasters() -> None:
    class Dog(Aggregate):
        @event("Registered")
        def __init__(self, name: str) -> None:
            self.name = name

    class School(Application):
        pass

    app = School(env={"IS_SNAPSHOTTING_ENABLED": "y"})
    dog = Dog("Fido")
    app.save(dog)
    app.take_snapshot(dog.id)

    class DogV2(Aggregate):
        class_version = 2

        @event("Registered")
        def __init__(self, name: str) -> None:
            self.name = name
            self.tricks: list[str] = []

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["tricks"] = ["inherited"]

    # The stored snapshot names the old classes; point their topics at the new ones.
    from retell.topics import get_topic, register_topic

    register_topic(get_topic(Dog.Snapshot), DogV2.Snapshot)
    register_topic(get_topic(Dog), DogV2)
    try:
        upgraded = app.repository.get(dog.id)
    finally:
        register_topic(get_topic(Dog.Snapshot), Dog.Snapshot)
        register_topic(get_topic(Dog), Dog)
    assert type(upgraded) is DogV2
    assert upgraded.tricks == ["inherited"] and upgraded.name == "Fido"


def test_corrupted_bytes_are_a_clear_error() -> None:
    transcoder = Transcoder()
    with pytest.raises(TranscodingError, match="cannot read a stored Everything"):
        transcoder.decode(Everything, b'{"originator_id": 12')
