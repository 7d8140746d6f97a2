"""The transcoder: every supported type round-trips, typed or loose; upcasting; custom types."""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retell import Aggregate, Application, event
from retell.domain.events import AggregateEvent
from retell.errors import ConfigurationError, TranscodingError
from retell.persistence import JSONTranscoder, Transcoder, Transcoding
from tests.value_types import ExactDict, ExactInt, ExactList, ExactStr, Pair


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
    if isinstance(value, tuple) and hasattr(cls, "_fields"):  # a named tuple
        return (cls, tuple(_canonical(v) for v in value))
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
        assert fast_decode(transcoder, Measured, data, original.originator_id) == decoded


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


def test_strict_mode_refuses_wrong_types_with_the_field_named() -> None:
    transcoder = Transcoder(strict=True)
    with pytest.raises(
        TranscodingError, match=r"Everything.*Expected `int`, got `str`.*\$\.number"
    ):
        transcoder.encode(event_with(number="one"))
    with pytest.raises(TranscodingError, match=r"Expected `float`, got `str`.*\$\.ratio"):
        transcoder.encode(event_with(ratio="half"))
    with pytest.raises(TranscodingError, match=r"Expected `float`, got `int`.*TRANSCODER_STRICT"):
        transcoder.encode(event_with(ratio=1))  # it would not come back an int
    with pytest.raises(TranscodingError, match=r"Expected `UUID \| None`.*\$\.maybe"):
        transcoder.encode(event_with(maybe=str(uuid4())))  # it would come back a UUID
    with pytest.raises(TranscodingError, match=r"Expected `list\[Point\]`.*\$\.points"):
        transcoder.encode(event_with(points=[Point("1", "p", datetime.now(UTC))]))  # type: ignore[arg-type]
    original = event_with(number=2, ratio=math.nan)
    assert _canonical(transcoder.decode(Everything, transcoder.encode(original))) == _canonical(
        original
    )


class Bounded(AggregateEvent, frozen=True, kw_only=True):
    count: Annotated[int, msgspec.Meta(ge=0)]


def test_values_their_annotations_constrain_are_refused_when_strict_kept_when_not() -> None:
    def bounded(count: int) -> Bounded:
        return Bounded(
            originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), count=count
        )

    with pytest.raises(TranscodingError, match=r"Expected `int` >= 0 - at `\$\.count`"):
        Transcoder(strict=True).encode(bounded(-1))
    transcoder = Transcoder()
    data = transcoder.encode(bounded(-1))
    assert b'"__o":["count"]' in data
    assert transcoder.decode(Bounded, data).count == -1
    one = bounded(1)
    assert transcoder.decode(Bounded, transcoder.encode(one)) == one


# Values of other types than their fields' annotations (the `eventsourcing` library
# stores every value as its own type, whatever the annotation).


@dataclasses.dataclass(frozen=True)
class EmailAddress:
    address: str


@dataclasses.dataclass(frozen=True)
class OtherPoint:
    x: Any


class Typed(AggregateEvent, frozen=True, kw_only=True):
    text: str = "t"
    number: int = 1
    ratio: float = 0.5
    ident: UUID = UUID(int=1)
    day: date = date(2024, 1, 2)
    when: datetime = datetime(2024, 1, 2, tzinfo=UTC)
    names: list[str] = []
    point: Point = Point(1, "p", datetime(2020, 1, 1, tzinfo=UTC))
    colour: Colour = Colour.RED
    maybe: int | None = None
    amount: Decimal = Decimal("1.5")
    pair: tuple[int, str] = (1, "a")


def typed(**values: Any) -> Typed:
    return Typed(originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), **values)


OTHER_TYPES = [
    ("text", 1),
    ("text", 1.5),
    ("text", None),
    ("text", ExactStr("a")),
    ("text", EmailAddress("a@example.com")),
    ("text", uuid4()),
    ("text", Colour.BLUE),
    ("text", b"bytes"),
    ("text", ["a"]),
    ("number", "1"),
    ("number", True),
    ("number", 1.0),
    ("number", ExactInt(3)),
    ("number", Size.LARGE),
    ("number", Decimal("2")),
    ("ratio", 2),
    ("ratio", Decimal("1.5")),
    ("ratio", True),
    ("ratio", "nan"),
    ("ident", str(uuid4())),
    ("ident", uuid4().hex),
    ("day", datetime(2024, 1, 2, 3, tzinfo=UTC)),  # a datetime is a date, but not only
    ("day", "2024-01-02"),
    ("when", date(2024, 1, 2)),
    ("names", ["a", 1, None]),
    ("names", ("a", "b")),
    ("names", {"a"}),
    ("names", ExactList(["a"])),
    ("names", ExactDict({"a": 1})),
    ("point", {"x": 1, "label": "p", "at": "2020-01-01T00:00:00Z"}),
    ("point", OtherPoint(uuid4())),
    ("point", Point("1", 2, "at")),  # type: ignore[arg-type]
    ("point", Pair(1, (2, 3))),
    ("colour", "red"),
    ("colour", Size.SMALL),
    ("maybe", "1"),
    ("maybe", math.inf),
    ("amount", 1.5),
    ("amount", "1.5"),
    ("pair", [1, "a"]),
    ("pair", (1, "a", "b")),
    ("pair", ("a", 1)),
]


@pytest.mark.parametrize(("field", "value"), OTHER_TYPES, ids=lambda v: type(v).__name__)
def test_a_value_of_another_type_than_annotated_comes_back_as_its_own_type(
    field: str, value: Any
) -> None:
    transcoder = Transcoder()
    original = typed(**{field: value})
    data = transcoder.encode(original)
    assert f'"__o":["{field}"]'.encode() in data  # the other fields keep their typed form
    with pytest.raises(msgspec.ValidationError):  # so replays fall back to decode()
        transcoder.fast_decoder(Typed)(data)
    decoded = transcoder.decode(Typed, data)
    got = getattr(decoded, field)
    assert type(got) is type(value) and _canonical(got) == _canonical(value)
    assert _types(got) == _types(value)
    assert _canonical(decoded) == _canonical(original)
    again = transcoder.decode(Typed, transcoder.encode(decoded))
    assert _canonical(again) == _canonical(original)
    with pytest.raises(TranscodingError, match=rf"Expected .* - at `\$\.{field}`"):
        Transcoder(strict=True).encode(original)


@dataclasses.dataclass
class Counted:
    """Made with `count` only: its `total` cannot be given back to its constructor."""

    count: int
    total: int = dataclasses.field(init=False, default=0)


def test_values_that_would_not_read_back_are_refused_when_saved() -> None:
    @dataclasses.dataclass
    class Local:  # its topic cannot be imported
        x: int

    class Note(AggregateEvent, frozen=True, kw_only=True):  # no floats: safe when typed
        text: str
        anything: Any

    def note(**values: Any) -> Note:
        return Note(
            originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), **values
        )

    transcoder = Transcoder()
    transcoder.register(Money, "money", lambda m: m.cents, lambda data: Money(data["cents"]))
    for value in (Counted(1), Local(1), Money(1), [Money(2)]):
        for original in (
            note(text="a", anything=value),
            note(text=value, anything=None),
            event_with(anything=value),
            typed(text=value),
        ):
            with pytest.raises(
                TranscodingError, match=r"cannot store \S*(Note|Everything|Typed) event"
            ):
                transcoder.encode(original)


def test_values_of_their_annotated_types_keep_the_typed_form() -> None:
    transcoder = Transcoder()
    original = typed(text="x", names=["a"], maybe=3, ratio=2.5)
    data = transcoder.encode(original)
    assert b"__o" not in data and b"__t" not in data
    assert fast_decode(transcoder, Typed, data, original.originator_id) == original


def test_a_registered_type_where_another_is_annotated_comes_back_as_itself() -> None:
    transcoder = Transcoder()
    transcoder.register(Money, "money", lambda m: m.cents, Money)
    transcoder.register(EmailAddressAsStr())
    original = typed(text=EmailAddress("a@example.com"), number=Money(5), names=[Money(1)])
    decoded = transcoder.decode(Typed, transcoder.encode(original))
    assert decoded.text == EmailAddress("a@example.com") and decoded.number == Money(5)
    assert decoded.names == [Money(1)]


either = functools.partial(st.one_of, loose_values)  # its own type, or any other
odd_points = st.builds(Point, loose_leaves, loose_leaves, loose_leaves)


@settings(max_examples=300, deadline=None)
@given(
    text=either(st.text()),
    number=either(st.integers()),
    ratio=either(st.floats()),
    flag=either(st.booleans()),
    nothing=either(st.none()),
    items=either(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1))),
    mapping=either(st.dictionaries(st.text(), st.integers())),
    pair=either(st.tuples(st.integers(), st.text())),
    ident=either(st.uuids()),
    when=either(aware_datetimes),
    day=either(st.dates()),
    amount=either(st.decimals(allow_nan=False, allow_infinity=False)),
    colour=either(st.sampled_from(Colour)),
    size=either(st.sampled_from(Size)),
    point=either(odd_points),
    points=either(st.lists(odd_points, max_size=3)),
    maybe=either(st.none(), st.uuids()),
    anything=loose_values,
)
def test_values_of_any_type_in_typed_fields_round_trip_as_their_own_types(**values: Any) -> None:
    transcoder = Transcoder()
    original = event_with(**values)
    decoded = transcoder.decode(Everything, transcoder.encode(original))
    for name, value in values.items():
        got = getattr(decoded, name)
        assert _canonical(got) == _canonical(value), name
        assert _types(got) == _types(value), name


class Plain(AggregateEvent, frozen=True, kw_only=True):
    """Annotations whose values, when of exactly these types, are written without a check."""

    text: str
    number: int
    flag: bool
    blob: bytes
    ident: UUID
    when: datetime
    day: date
    at: time
    amount: Decimal
    colour: Colour
    size: Size
    names: list[str]
    counts: dict[str, int]
    by_number: dict[int, str]
    ids: set[UUID]
    tags: frozenset[str]
    many: tuple[int, ...]
    maybe: UUID | None


@settings(max_examples=300, deadline=None)
@given(
    text=either(st.text()),
    number=either(st.integers()),
    flag=either(st.booleans()),
    blob=either(st.binary()),
    ident=either(st.uuids()),
    when=either(st.datetimes(), aware_datetimes),
    day=either(st.dates()),
    at=either(st.times()),
    amount=either(st.decimals()),  # NaN too
    colour=either(st.sampled_from(Colour)),
    size=either(st.sampled_from(Size)),
    names=either(st.lists(st.text())),
    counts=either(st.dictionaries(st.text(), st.integers())),
    by_number=either(st.dictionaries(st.integers(), st.text())),
    ids=either(st.sets(st.uuids(), max_size=3)),
    tags=either(st.frozensets(st.text(), max_size=3)),
    many=either(st.lists(st.integers(), max_size=3).map(tuple)),
    maybe=either(st.none(), st.uuids()),
)
def test_what_is_written_without_a_check_reads_back(**values: Any) -> None:
    transcoder = Transcoder()
    original = Plain(
        originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), **values
    )
    data = transcoder.encode(original)
    decoded = transcoder.decode(Plain, data)
    for name, value in values.items():
        got = getattr(decoded, name)
        assert _is_nan_decimal(value) or _canonical(got) == _canonical(value), name
        assert _types(got) == _types(value), name
    if b"__o" not in data:
        assert fast_decode(transcoder, Plain, data, original.originator_id) == decoded


def fast_decode(transcoder: Transcoder, cls: Any, data: bytes, record_id: UUID | str) -> Any:
    """The fast decoder's event, given its record's id as the mapper gives it: the fast
    decoder reads the id as text."""
    event = transcoder.fast_decoder(cls)(data)
    assert event.originator_id == str(record_id)
    msgspec.structs.force_setattr(event, "originator_id", record_id)
    return event


def _is_nan_decimal(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_nan()


def test_old_events_with_values_of_other_types_are_upcast() -> None:
    class Named(AggregateEvent, frozen=True, kw_only=True):
        name: str

    transcoder = Transcoder()
    stored_v1 = transcoder.encode(
        Named(originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), name=7)  # type: ignore[arg-type]
    )
    seen: list[Any] = []

    class Named2(AggregateEvent, frozen=True, kw_only=True):
        name: str
        nick: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            seen.append(state["name"])  # as it was stored: the int
            state["nick"] = str(state["name"])

    new = transcoder.decode(Named2, stored_v1)
    assert (new.name, new.nick, seen) == (7, "7", [7])
    again = transcoder.decode(Named2, transcoder.encode(new))
    assert (again.name, again.nick) == (7, "7")


# Any supported value, not only events: encode(obj) -> bytes, decode(bytes) -> obj.


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        loose_values, st.builds(ExactStr, st.text()), st.builds(Pair, loose_leaves, loose_leaves)
    )
)
def test_any_supported_value_round_trips_through_encode_and_decode(value: Any) -> None:
    transcoder = Transcoder()
    data = transcoder.encode(value)
    assert type(data) is bytes
    decoded = transcoder.decode(data)
    assert _canonical(decoded) == _canonical(value)
    assert _types(decoded) == _types(value)


def test_plain_json_values_are_written_as_plain_json() -> None:
    transcoder = Transcoder()
    for value, data in [
        ("a", b'"a"'),
        ('a"b', b'"a\\"b"'),
        (1, b"1"),
        (None, b"null"),
        ([1, "a", [True]], b'[1,"a",[true]]'),
        ({"a": {"b": {}}}, b'{"a":{"b":{}}}'),
        ({"_type_": 1, "_data_": 2}, b'{"_type_":1,"_data_":2}'),
    ]:
        assert transcoder.encode(value) == data
        assert transcoder.decode(data) == value


def test_subclasses_of_builtins_come_back_as_themselves() -> None:
    transcoder = Transcoder()
    for value in [
        ExactStr("a"),
        ExactInt(3),
        ExactList([("a", 1)]),
        ExactDict({"a": ExactStr("b")}),
    ]:
        decoded = transcoder.decode(transcoder.encode(value))
        assert type(decoded) is type(value) and decoded == value
    assert transcoder.decode(transcoder.encode(Pair(1, (2,)))) == Pair(1, (2,))


def test_values_that_cannot_be_encoded_or_decoded_are_transcoding_errors() -> None:
    transcoder = Transcoder()
    with pytest.raises(TranscodingError, match=r"cannot encode Unknown.*Transcoder\.register"):
        transcoder.encode(Unknown())
    with pytest.raises(TranscodingError, match=r"cannot encode dict"):
        transcoder.encode({"a": Unknown()})
    with pytest.raises(TranscodingError, match=r"'custom_type3_as_dict', which is not registered"):
        transcoder.decode(b'{"__t":"custom_type3_as_dict","v":""}')
    with pytest.raises(TranscodingError, match="cannot decode a value"):
        transcoder.decode(b"{")


class Unknown:
    pass


# The `eventsourcing` library's way to register a type: a Transcoding object.


class EmailAddressAsStr(Transcoding):
    type = EmailAddress
    name = "email_address_as_str"

    def encode(self, obj: EmailAddress) -> str:
        return obj.address

    def decode(self, data: str) -> EmailAddress:
        return EmailAddress(data)


@dataclasses.dataclass(frozen=True)
class CustomType1:
    value: UUID


@dataclasses.dataclass(frozen=True)
class CustomType2:
    value: CustomType1


class CustomType1AsDict(Transcoding):
    type = CustomType1
    name = "custom_type1_as_dict"

    def encode(self, obj: CustomType1) -> UUID:
        return obj.value

    def decode(self, data: UUID) -> CustomType1:
        assert isinstance(data, UUID)  # what encode returned is decoded first
        return CustomType1(value=data)


class CustomType2AsDict(Transcoding):
    type = CustomType2
    name = "custom_type2_as_dict"

    def encode(self, obj: CustomType2) -> CustomType1:
        return obj.value

    def decode(self, data: CustomType1) -> CustomType2:
        assert isinstance(data, CustomType1)
        return CustomType2(data)


class Nested(AggregateEvent, frozen=True, kw_only=True):
    typed: CustomType2
    other: str
    loose: Any


def test_transcodings_registered_as_objects_nest() -> None:
    transcoder = JSONTranscoder()
    transcoder.register(CustomType1AsDict())
    transcoder.register(CustomType2AsDict())
    obj = CustomType2(CustomType1(UUID("b2723fe2c01a40d2875ea3aac6a09ff5")))
    data = transcoder.encode(obj)
    assert data == (
        b'{"__t":"custom_type2_as_dict","v":{"__t":"custom_type1_as_dict",'
        b'"v":{"__t":"uuid","v":"b2723fe2-c01a-40d2-875e-a3aac6a09ff5"}}}'
    )
    assert transcoder.decode(data) == obj
    assert transcoder.decode(transcoder.encode({"a": obj})) == {"a": obj}
    original = Nested(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        typed=obj,
        other=obj,  # type: ignore[arg-type]
        loose=[obj],
    )
    assert transcoder.decode(Nested, transcoder.encode(original)) == original


def test_register_takes_a_transcoding_or_its_four_parts() -> None:
    transcoder = Transcoder()
    with pytest.raises(TranscodingError, match="takes a Transcoding"):
        transcoder.register(object())  # type: ignore[call-overload]
    with pytest.raises(TranscodingError, match="takes a class and a name"):
        transcoder.register("money", Money, str, Money)  # type: ignore[call-overload]

    class Same(Transcoding):
        type = Money
        name = "same"

        def encode(self, obj: Money) -> Money:
            return obj

        def decode(self, data: Any) -> Money:
            return Money(data)

    transcoder.register(Same())
    with pytest.raises(TranscodingError, match="returned a value of the same type"):
        transcoder.encode(Money(1))
    with pytest.raises(TranscodingError, match="returned a value of the same type"):
        transcoder.encode(typed(text=Money(1)))


def test_strict_mode_is_an_application_setting() -> None:
    class Dog(Aggregate):
        @event("Registered")
        def __init__(self, name: str) -> None:
            self.name = name

    class Kennel(Application):
        pass

    with Kennel() as app:
        rex = Dog(123)  # type: ignore[arg-type]
        app.save(rex)
        assert app.repository.get(rex.id).name == 123
    for env in ({"TRANSCODER_STRICT": "y"}, {"KENNEL_TRANSCODER_STRICT": "yes"}):
        with Kennel(env=env) as app:
            rex = Dog(123)  # type: ignore[arg-type]
            with pytest.raises(
                TranscodingError, match=r"Expected `str`, got `int` - at `\$\.name`"
            ):
                app.save(rex)
            assert len(rex.collect_events()) == 1  # nothing was recorded
            fido = Dog("Fido")
            app.save(fido)
            assert app.repository.get(fido.id).name == "Fido"
    with pytest.raises(ConfigurationError, match=r"TRANSCODER_STRICT='maybe' is not a yes/no"):
        Kennel(env={"TRANSCODER_STRICT": "maybe"})


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
