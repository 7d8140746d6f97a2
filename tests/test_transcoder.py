"""The transcoder: every supported type round-trips, typed or loose; upcasting; custom types."""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import msgspec
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
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf]),  # often: JSON cannot hold them
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
    ratio=st.floats(),
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
    assert _canonical(decoded) == _canonical(original)
    assert type(decoded.anything) is type(original.anything)


@settings(max_examples=200, deadline=None)
@given(value=loose_values)
def test_loose_values_keep_their_types(value: Any) -> None:
    transcoder = Transcoder()
    original = event_with(anything=value)
    decoded = transcoder.decode(Everything, transcoder.encode(original))
    assert _canonical(decoded.anything) == _canonical(value)
    assert _types(decoded.anything) == _types(value)


def _types(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return (type(value), [_types(v) for v in value])
    if isinstance(value, dict):
        return (dict, sorted((repr(k), _types(v)) for k, v in value.items()))
    return type(value)


class _NaN:
    """Stands for every NaN in `_canonical`, since NaN is not equal to itself."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NaN)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "NaN"


def _canonical(value: Any) -> Any:
    """`value` with each float NaN replaced by a `_NaN`, so that equal values compare equal."""
    cls = type(value)
    if cls is float and math.isnan(value):
        return _NaN()
    if cls is list or cls is tuple:
        return cls(_canonical(v) for v in value)
    if cls is dict:
        return {_canonical(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, msgspec.Struct):
        return (cls, _canonical(msgspec.structs.asdict(value)))
    if dataclasses.is_dataclass(value):
        return (
            cls,
            _canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}),
        )
    return value


@dataclasses.dataclass(frozen=True)
class Reading:
    value: float
    unit: str


class Measured(AggregateEvent, frozen=True, kw_only=True):
    value: float
    maybe: float | None
    values: list[float]
    by_name: dict[str, float]
    by_value: dict[float, int]
    pair: tuple[float, str]
    reading: Reading
    readings: list[Reading | None]


floats = st.floats()  # every float: NaN, the infinities, -0.0, subnormals


@settings(max_examples=300, deadline=None)
@given(
    value=floats,
    maybe=st.one_of(st.none(), floats),
    values=st.lists(floats, max_size=4),
    by_name=st.dictionaries(st.text(max_size=4), floats, max_size=3),
    by_value=st.dictionaries(floats.filter(lambda f: not math.isnan(f)), st.integers(0, 9)),
    pair=st.tuples(floats, st.text(max_size=4)),
    reading=st.builds(Reading, floats, st.text(max_size=4)),
    readings=st.lists(st.one_of(st.none(), st.builds(Reading, floats, st.just("kg")))),
)
def test_non_finite_floats_round_trip_in_typed_fields(**values: Any) -> None:
    transcoder = Transcoder()
    original = Measured(
        originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), **values
    )
    data = transcoder.encode(original)
    decoded = transcoder.decode(Measured, data)
    assert _canonical(decoded) == _canonical(original)
    assert repr(decoded) == repr(original)  # the signs of zeros and infinities too
    if b"__f" not in data:  # finite floats keep the fast decoder's form
        assert transcoder.fast_decoder(Measured)(data) == decoded


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_not_read_back_as_none(value: float) -> None:
    transcoder = Transcoder()
    nested = {"list": [value, 1.5], "dict": {"k": value}, "tuple": (value,), value: "key"}
    original = event_with(ratio=value, anything=nested)
    decoded = transcoder.decode(Everything, transcoder.encode(original))
    for got in (decoded.ratio, decoded.anything["list"][0], decoded.anything["dict"]["k"]):
        assert type(got) is float and repr(got) == repr(value)
    assert repr(decoded.anything["tuple"][0]) == repr(value)
    assert [repr(k) for k in decoded.anything if type(k) is float] == [repr(value)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_where_none_is_allowed_are_not_read_back_as_none(value: float) -> None:
    transcoder = Transcoder()
    original = Measured(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        value=1.0,
        maybe=value,  # JSON null would be read back as None here, not refused
        values=[],
        by_name={},
        by_value={},
        pair=(1.0, "a"),
        reading=Reading(2.0, "kg"),
        readings=[None],
    )
    decoded = transcoder.decode(Measured, transcoder.encode(original))
    assert repr(decoded) == repr(original)


class Cost:
    def __init__(self, amount: float) -> None:
        self.amount = amount


def test_non_finite_floats_in_registered_types_and_old_versions() -> None:
    class Charged(AggregateEvent, frozen=True, kw_only=True):
        cost: Cost
        ratio: float

    transcoder = Transcoder()
    transcoder.register(Cost, "cost", lambda c: c.amount, Cost)
    stored_v1 = transcoder.encode(
        Charged(
            originator_id=uuid4(),
            originator_version=1,
            timestamp=datetime.now(UTC),
            cost=Cost(math.inf),
            ratio=math.nan,
        )
    )
    seen: list[Any] = []

    class Charged2(AggregateEvent, frozen=True, kw_only=True):
        cost: Cost
        ratio: float
        currency: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            seen.append(state["ratio"])  # upcasters see the float, not its tagged form
            state["currency"] = "EUR"

    new = transcoder.decode(Charged2, stored_v1)
    assert (new.cost.amount, repr(new.ratio), new.currency) == (math.inf, "nan", "EUR")
    assert math.isnan(seen[0])
    again = transcoder.decode(Charged2, transcoder.encode(new))
    assert (again.cost.amount, repr(again.ratio)) == (math.inf, "nan")


def test_a_dict_in_a_typed_field_that_looks_like_a_tag_is_kept() -> None:
    transcoder = Transcoder()
    tricky = {"__t": math.inf, "v": 1.0}
    original = Measured(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        value=math.nan,
        maybe=None,
        values=[],
        by_name=tricky,
        by_value={},
        pair=(1.0, "a"),
        reading=Reading(2.0, "kg"),
        readings=[None],
    )
    decoded = transcoder.decode(Measured, transcoder.encode(original))
    assert decoded.by_name == tricky and decoded.maybe is None and decoded.readings == [None]


def test_a_dict_that_looks_like_a_tag_is_kept_as_a_dict() -> None:
    transcoder = Transcoder()
    tricky = {"__t": "uuid", "v": "not a uuid"}
    decoded = transcoder.decode(Everything, transcoder.encode(event_with(anything=tricky)))
    assert decoded.anything == tricky


def test_wrong_types_are_refused_with_the_field_named() -> None:
    transcoder = Transcoder()
    with pytest.raises(TranscodingError, match=r"Everything.*\$\.number"):
        transcoder.encode(event_with(number="one"))
    with pytest.raises(TranscodingError, match=r"Expected `float`.*\$\.ratio"):
        transcoder.encode(event_with(ratio="half"))


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


@pytest.mark.parametrize("data", [b"[1,2]", b'"text"', b"12", b"null", b"true"])
def test_stored_state_that_is_not_a_json_object_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(TranscodingError, match=r"not an object.*Restore the record"):
        Transcoder().decode(Everything, data)


def test_only_event_classes_are_transcoded() -> None:
    with pytest.raises(TranscodingError, match="is not an event class"):
        Transcoder().decode(dict, b"{}")  # type: ignore[arg-type]


class Scored(AggregateEvent, frozen=True, kw_only=True):
    scores: dict[int, str]
    by_size: dict[Size, float]
    extra: Any  # decoded by the dict path, where JSON's keys are strings


def test_typed_dicts_with_non_string_keys_round_trip_beside_loose_fields() -> None:
    transcoder = Transcoder()
    original = Scored(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        scores={1: "a", -2: "b"},
        by_size={Size.SMALL: 0.5},
        extra=None,
    )
    assert transcoder.decode(Scored, transcoder.encode(original)) == original
