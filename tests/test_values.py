"""Values of every supported type, values JSON cannot hold, values of other types than
their annotations, and records that cannot be read, on every store."""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from retell import Aggregate, Application, event
from retell.errors import TranscodingError
from retell.persistence import Transcoder, Transcoding
from retell.persistence.records import StoredEvent
from retell.topics import get_topic
from tests.value_types import ExactStr, Pair

NON_FINITE = [math.nan, math.inf, -math.inf]


class LooseDog(Aggregate):
    """Unannotated, so its events' fields are loosely typed."""

    @event("Registered")
    def __init__(self, name):  # type: ignore[no-untyped-def]
        self.name = name
        self.tricks = []

    @event("TrickAdded")
    def add_trick(self, trick):  # type: ignore[no-untyped-def]
        self.tricks.append(trick)


class Scale(Aggregate):
    """Annotated, so its events are decoded by msgspec from the annotations."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.readings: list[float] = []

    @event("Weighed")
    def weigh(self, kg: float, also: list[float], tare: float | None = None) -> None:
        self.readings += [kg, *also]
        self.tare = tare


class School(Application):
    env = {"IS_SNAPSHOTTING_ENABLED": "y"}


def same(a: Any, b: Any) -> bool:
    """Equal, counting NaN as equal to NaN, and telling -inf from inf."""
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_nan_and_infinities_round_trip_on_every_store(store_env: dict[str, str]) -> None:
    with School(env=store_env) as app:
        dog = LooseDog("Fido")
        for value in NON_FINITE:
            dog.add_trick(value)
        dog.add_trick([math.nan, {"height": math.inf, "depth": [-math.inf]}, (math.nan,)])
        dog.add_trick({"best": -math.inf})
        scale = Scale("kitchen")
        scale.weigh(math.nan, [math.inf, 1.5, -math.inf])
        scale.weigh(math.inf, [], tare=-math.inf)
        scale.weigh(2.0, [], tare=math.nan)
        none_scale = Scale("bathroom")
        none_scale.weigh(1.0, [2.5], tare=None)  # a null that is no NaN stays None
        app.save(dog, scale, none_scale)
        for version in (2, 6):
            again = app.repository.get(dog.id, version=version)
            assert same(again.tricks, dog.tricks[: version - 1])

        app.take_snapshot(dog.id)
        assert app.snapshots is not None
        (snapshot,) = app.snapshots.get(dog.id)
        assert same(snapshot.state["tricks"], dog.tricks)  # type: ignore[attr-defined]
        assert same(app.repository.get(dog.id).tricks, dog.tricks)
        again = app.repository.get(scale.id)
        assert same(again.readings, scale.readings) and same(again.tare, scale.tare)
        assert again.readings[1:4:2] == [math.inf, -math.inf] and math.isnan(again.readings[0])
        again = app.repository.get(none_scale.id)
        assert again.tare is None and again.readings == [1.0, 2.5]

        events = app.mapper.to_domain_events(app.notification_log.select(1, 100))
        tricks = [e.trick for e in events if isinstance(e, LooseDog.TrickAdded)]
        assert same(tricks, dog.tricks)


def unreadable_records(dog_id: UUID) -> list[tuple[str, bytes, str]]:
    """Records no writer of retell makes: a topic, a state, and what the error must say."""
    return [
        (get_topic(LooseDog.TrickAdded), b"[1,2]", "JSON array, not an object"),
        (get_topic(Scale.Weighed), b"[1,2]", "JSON array, not an object"),
        ("builtins:dict", b"{}", "names the class builtins.dict, which is not an event class"),
        (get_topic(LooseDog), b"{}", "aggregate class .*LooseDog, which is not an event class"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_an_unreadable_record_is_a_clear_error(store_env: dict[str, str], case: int) -> None:
    with School(env=store_env) as app:
        dog = LooseDog("Fido")
        app.save(dog)
        topic, state, says = unreadable_records(dog.id)[case]
        app.recorder.insert_events([StoredEvent(dog.id, 2, topic, state)])
        for read in (
            lambda: app.repository.get(dog.id),
            lambda: app.mapper.to_domain_events(app.notification_log.select(1, 10)),
        ):
            with pytest.raises(TranscodingError) as error:
                read()
            message = str(error.value)
            assert f"version 2 of aggregate {dog.id} (topic {topic!r})" in message
            assert re.search(says, message)
            assert "Restore the record" in message or "correct the record's topic" in message
        assert app.repository.get(dog.id, version=1).name == "Fido"


# Unannotated fields hold any supported value, each read back as its own type.


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    SMALL = 1


@dataclasses.dataclass(frozen=True)
class Collar:
    colour: Colour
    bought: date
    tag: UUID | None = None


@dataclasses.dataclass
class Kit:
    collar: Collar
    spares: list[Collar]
    notes: Any


UNANNOTATED: dict[str, Any] = {
    "str": "roll over 🐈",
    "int": -(2**80),
    "float": 0.1,
    "bool": True,
    "None": None,
    "list": [1, "a", [None, False]],
    "dict": {"a": {"b": [1.5]}, "": 0},
    "tuple": (1, "a", (2, (3,)), ()),
    "set": {1, "a", (2, 3)},
    "frozenset": frozenset({UUID(int=7), frozenset({1})}),
    "dict with other keys": {1: "a", (1, 2): "b", UUID(int=3): "c", Colour.RED: "d", None: 0},
    "dataclass": Collar(Colour.RED, date(2024, 2, 29), uuid4()),
    "nested dataclasses": Kit(Collar(Colour.RED, date(2024, 1, 1)), [], {"size": Size.SMALL}),
    "enum": Colour.RED,
    "int enum": Size.SMALL,
    "decimal": Decimal("-1234567890.1234567890"),
    "date": date(1, 1, 1),
    "datetime": datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    "naive datetime": datetime(2024, 2, 29, 12, 0),
    "datetime with offset": datetime(2024, 3, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
    "time": time(23, 59, 59, 1),
    "uuid": uuid4(),
    "bytes": bytes(range(256)),
    "named tuple": Pair(uuid4(), (1,)),
    "str subclass": ExactStr("Rex"),
    "everything": [(Decimal("1"), {date(2024, 1, 1): [b"x"]}), {Size.SMALL}, math.inf],
}


@pytest.mark.parametrize("kind", list(UNANNOTATED))
def test_unannotated_fields_round_trip_every_supported_type_on_every_store(
    store_env: dict[str, str], kind: str
) -> None:
    value = UNANNOTATED[kind]
    with School(env=store_env) as app:
        dog = LooseDog(value)
        dog.add_trick(value)
        dog.add_trick({"kind": kind, "value": value})
        app.save(dog)
        events = app.mapper.to_domain_events(app.notification_log.select(1, 10))
        assert same(events[0].name, value) and same(events[1].trick, value)
        for again in (app.repository.get(dog.id), app.repository.get(dog.id, version=2)):
            assert same(again.name, value) and same(again.tricks[0], value)
        app.take_snapshot(dog.id)
        assert app.snapshots is not None
        (snapshot,) = app.snapshots.get(dog.id)
        assert same(snapshot.state["tricks"], dog.tricks)  # type: ignore[attr-defined]
        again = app.repository.get(dog.id)
        assert same(again.name, value) and same(again.tricks, dog.tricks)


# A value of another type than its field's annotation is read back as its own type,
# as the `eventsourcing` library does: its own example keeps an EmailAddress in a
# field annotated str.


@dataclasses.dataclass(frozen=True)
class EmailAddress:
    address: str


class EmailAddressAsStr(Transcoding):
    type = EmailAddress
    name = "email_address_as_str"

    def encode(self, obj: EmailAddress) -> str:
        return obj.address

    def decode(self, data: str) -> EmailAddress:
        return EmailAddress(data)


class BankAccount(Aggregate):
    @event("Opened")
    def __init__(self, full_name: str, email_address: str) -> None:
        self.full_name = full_name
        self.email_address = email_address
        self.history: list[Decimal] = []

    @event("TransactionAppended")
    def append_transaction(self, amount: Decimal) -> None:
        self.history.append(amount)

    @event("Tagged")
    def tag(self, at: datetime, ref: UUID, labels: list[str], code: int | None = None) -> None:
        self.tagged = (at, ref, labels, code)


class Bank(Application):
    env = {"IS_SNAPSHOTTING_ENABLED": "y"}


class RegisteringBank(Bank):
    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(EmailAddressAsStr())


@pytest.mark.parametrize("bank_class", [Bank, RegisteringBank])
def test_values_of_other_types_than_annotated_round_trip_on_every_store(
    store_env: dict[str, str], bank_class: type[Bank]
) -> None:
    email = EmailAddress("alice@example.com")
    tagged = (date(2024, 1, 2), str(UUID(int=5)), ("a", 1, ExactStr("b")), "7")
    with bank_class(env=store_env) as app:
        account = BankAccount(ExactStr("Alice"), email)  # type: ignore[arg-type]
        account.append_transaction(Decimal("10.00"))  # of its annotated type
        account.append_transaction(5)  # type: ignore[arg-type]
        account.append_transaction(2.5)  # type: ignore[arg-type]
        account.append_transaction(None)  # type: ignore[arg-type]
        account.tag(*tagged)  # type: ignore[arg-type]
        account.tag(datetime(2024, 1, 2, tzinfo=UTC), UUID(int=5), ["a"], 7)  # all typed
        app.save(account)
        snapshot_version = account.version
        account.append_transaction(Decimal("0.50"))
        app.save(account)

        def check(again: BankAccount) -> None:
            assert same(again.full_name, ExactStr("Alice")) and again.email_address == email
            assert same(again.history, [Decimal("10.00"), 5, 2.5, None, Decimal("0.50")])
            assert same(again.tagged, (datetime(2024, 1, 2, tzinfo=UTC), UUID(int=5), ["a"], 7))

        check(app.repository.get(account.id, version=account.version))
        older = app.repository.get(account.id, version=6)
        assert same(older.tagged, tagged)
        app.take_snapshot(account.id, version=snapshot_version)
        check(app.repository.get(account.id))
        events = app.mapper.to_domain_events(app.notification_log.select(1, 100))
        amounts = [e.amount for e in events if isinstance(e, BankAccount.TransactionAppended)]
        assert same(amounts, [Decimal("10.00"), 5, 2.5, None, Decimal("0.50")])


@dataclasses.dataclass(frozen=True)
class DataclassRegistered:
    """An event in the reference's dataclass style: not a retell event class."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    name: str


class StructRegistered(msgspec.Struct, frozen=True):
    """An event that is a msgspec Struct of its own."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    name: str


@pytest.mark.parametrize("event_class", [DataclassRegistered, StructRegistered])
def test_events_of_other_styles_are_read_back_as_saved(
    store_env: dict[str, str], event_class: type[Any]
) -> None:
    """Saved, they must also be readable: a store never keeps what it cannot read."""
    with Application(env=store_env) as app:
        first = event_class(uuid4(), 1, datetime.now(UTC), "Fido")
        second = event_class(first.originator_id, 2, datetime.now(UTC), "Rex")
        app.save(first, second)
        events = app.repository.get(first.originator_id, projector_func=_collected)
        assert events == [first, second]
        assert [type(e) for e in events] == [event_class, event_class]
        notifications = app.recorder.select_notifications(None, 10)
        assert [app.mapper.to_domain_event(n) for n in notifications] == [first, second]


def _collected(aggregate: list[Any] | None, events: Any) -> list[Any]:
    return [*(aggregate or []), *events]
