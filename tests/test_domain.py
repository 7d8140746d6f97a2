"""Aggregates and events: the @event decorator, explicit event classes, and their errors."""

from __future__ import annotations

import inspect
import typing
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import msgspec
import pytest

from retell import Aggregate, event
from retell.domain import AggregateCreated, AggregateEvent
from retell.errors import ArgumentError, EventError, RetellError
from retell.topics import get_topic, resolve_topic


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/dogs/{name}")

    @event("TrickAdded")
    def add_trick(self, trick: str, times: int = 1, *, loudly: bool = False) -> None:
        self.tricks.append(trick.upper() if loudly else trick)
        self.times = times


def replay(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_creating_an_aggregate_triggers_its_created_event() -> None:
    before = datetime.now(UTC)
    dog = Dog("Fido")
    assert dog.id == uuid5(NAMESPACE_URL, "/dogs/Fido")
    assert dog.version == 1
    assert dog.name == "Fido" and dog.tricks == []
    assert before <= dog.created_on == dog.modified_on <= datetime.now(UTC)
    assert dog.created_on.tzinfo is not None
    (created,) = dog.collect_events()
    assert type(created) is Dog.Registered
    assert isinstance(created, Dog.Created) and isinstance(created, Aggregate.Created)
    assert created.name == "Fido" and created.originator_version == 1
    assert created.originator_topic == get_topic(Dog)
    assert dog.collect_events() == []


def test_decorated_methods_trigger_events_whose_fields_come_from_the_signature() -> None:
    dog = Dog("Fido")
    dog.add_trick("roll")
    dog.add_trick("sit", 3, loudly=True)
    dog.add_trick(trick="beg", times=2)
    assert dog.tricks == ["roll", "SIT", "beg"]
    assert dog.version == 4 and dog.times == 2
    events = dog.collect_events()
    assert [type(e) for e in events[1:]] == [Dog.TrickAdded] * 3
    assert events[2].times == 3 and events[2].loudly is True
    assert events[1].times == 1 and events[1].loudly is False
    assert [e.originator_version for e in events] == [1, 2, 3, 4]
    assert events[3].timestamp == dog.modified_on


def test_replaying_events_rebuilds_the_same_state() -> None:
    dog = Dog("Fido")
    dog.add_trick("roll")
    copy = replay(dog.collect_events())
    assert type(copy) is Dog
    assert (copy.id, copy.version, copy.name, copy.tricks) == (dog.id, 2, "Fido", ["roll"])
    assert copy.created_on == dog.created_on and copy.modified_on == dog.modified_on


def test_events_are_immutable() -> None:
    created = Dog("Fido").collect_events()[0]
    with pytest.raises(AttributeError):
        created.name = "Rex"  # type: ignore[misc]
    assert isinstance(created, msgspec.Struct)


def test_wrong_call_arguments_are_type_errors_and_trigger_nothing() -> None:
    dog = Dog("Fido")
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'trick'"):
        dog.add_trick()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected"):
        dog.add_trick("roll", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        dog.add_trick("roll", trick="sit")  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        dog.add_trick("roll", 1, True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Dog()  # type: ignore[call-arg]
    assert dog.version == 1


def test_id_and_version_cannot_be_assigned() -> None:
    dog = Dog("Fido")
    with pytest.raises(AttributeError):
        dog.version = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        dog.id = uuid4()  # type: ignore[misc]


def test_default_ids_are_random_uuids() -> None:
    class Cat(Aggregate):
        @event("Adopted")
        def __init__(self, name: str) -> None:
            self.name = name

    a, b = Cat("Tom"), Cat("Tom")
    assert isinstance(a.id, UUID) and a.id != b.id


def test_bare_event_decorator_names_the_class_after_the_method() -> None:
    class Counter(Aggregate):
        @event
        def __init__(self) -> None:
            self.count = 0

        @event
        def increment_by(self, amount: int) -> None:
            self.count += amount

    counter = Counter()
    counter.increment_by(2)
    assert counter.count == 2
    assert [type(e).__name__ for e in counter.collect_events()] == ["Created", "IncrementBy"]
    assert Counter.IncrementBy.__qualname__.endswith("Counter.IncrementBy")


class Account(Aggregate):
    class Opened(Aggregate.Created):
        full_name: str

    class Credited(Aggregate.Event):
        amount: int

        def apply(self, aggregate: Any) -> None:
            aggregate.balance += self.amount

    class Debited(Aggregate.Event):
        amount: int

    def __init__(self, full_name: str) -> None:
        self.full_name = full_name
        self.balance = 0

    def credit(self, amount: int) -> None:
        self.trigger_event(self.Credited, amount=amount)

    @event(Debited)
    def debit(self, amount: int) -> None:
        self.balance -= amount


def test_explicit_event_classes() -> None:
    account = Account("Ann")
    account.credit(10)
    account.debit(3)
    assert account.balance == 7 and account.version == 3
    events = account.collect_events()
    assert [type(e) for e in events] == [Account.Opened, Account.Credited, Account.Debited]
    assert replay(events).balance == 7


def test_explicit_creation_with_a_chosen_id() -> None:
    chosen = uuid4()
    account = Account._create(Account.Opened, id=chosen, full_name="Bo")
    assert account.id == chosen and account.full_name == "Bo"


def test_an_aggregate_without_init() -> None:
    class Tag(Aggregate):
        @event("Renamed")
        def rename(self, label: str) -> None:
            self.label = label

    tag = Tag()
    tag.rename("x")
    assert tag.label == "x"
    assert [type(e) for e in tag.collect_events()] == [Tag.Created, Tag.Renamed]


def test_subclasses_inherit_creation_and_events() -> None:
    class Puppy(Dog):
        @event("Weaned")
        def wean(self) -> None:
            self.weaned = True

    puppy = Puppy("Bit")
    puppy.add_trick("roll")
    puppy.wean()
    events = puppy.collect_events()
    assert type(events[0]) is Dog.Registered
    assert resolve_topic(events[0].originator_topic) is Puppy
    rebuilt = replay(events)
    assert type(rebuilt) is Puppy and rebuilt.weaned and rebuilt.tricks == ["roll"]
    assert issubclass(Puppy.Event, Dog.Event)


def test_classes_defined_in_functions_resolve_by_topic() -> None:
    class Local(Aggregate):
        @event("Happened")
        def happen(self) -> None:
            pass

    assert resolve_topic(get_topic(Local)) is Local
    assert resolve_topic(get_topic(Local.Happened)) is Local.Happened
    assert "<locals>" in get_topic(Local.Happened)


def test_an_event_for_the_wrong_version_or_aggregate_is_refused() -> None:
    dog = Dog("Fido")
    dog.add_trick("roll")
    created, added = dog.collect_events()
    with pytest.raises(EventError, match="only version 3 can follow"):
        added.mutate(replay([created, added]))
    with pytest.raises(EventError, match="cannot start an aggregate"):
        added.mutate(None)
    other = Dog("Rex")
    with pytest.raises(EventError, match="belongs to aggregate"):
        added.mutate(other)
    with pytest.raises(EventError, match="already exists"):
        created.mutate(dog)


def test_decorated_methods_with_var_args_are_refused() -> None:
    with pytest.raises(EventError, match=r"\*args"):

        class Bad(Aggregate):
            @event("Did")
            def do(self, *args: Any) -> None:
                pass


def test_reserved_field_names_are_refused() -> None:
    # (`timestamp` may be an argument: it times the event, see test_reference_names.)
    with pytest.raises(EventError, match="originator_version"):

        class Bad(Aggregate):
            @event("Did")
            def do(self, originator_version: int) -> None:
                pass


def test_explicit_class_fields_must_match_the_method() -> None:
    with pytest.raises(EventError, match="must be the same"):

        class Bad(Aggregate):
            class Did(Aggregate.Event):
                amount: int

            @event(Did)
            def do(self, quantity: int) -> None:
                pass


def test_created_class_fields_must_match_init() -> None:
    with pytest.raises(EventError, match="must be the same"):

        class Bad(Aggregate):
            class Opened(Aggregate.Created):
                name: str

            def __init__(self, title: str) -> None:
                self.title = title


def test_several_created_classes_need_a_choice() -> None:
    class Undecided(Aggregate):  # defining it is fine: _create() can say which
        class Opened(Aggregate.Created):
            pass

        class Started(Aggregate.Created):
            pass

    with pytest.raises(EventError, match="several Created classes") as error:
        Undecided()
    assert isinstance(error.value, TypeError)  # as in the eventsourcing library
    started = Undecided._create(Undecided.Started)
    assert type(started.collect_events()[0]) is Undecided.Started


def test_event_rejects_what_is_not_a_name_or_class() -> None:
    with pytest.raises(EventError, match="event class name"):
        event(42)  # type: ignore[call-overload]


@pytest.mark.parametrize("name", ["", "Trick Added", "Dog.Trick", "class", "1st"])
def test_event_names_that_cannot_name_a_class_are_refused(name: str) -> None:
    with pytest.raises(EventError, match=rf"@event\({name!r}\) on .*Bad\.act: .*identifier"):

        class Bad(Aggregate):
            @event(name)
            def act(self) -> None:
                pass


def test_create_id_must_return_a_uuid_or_a_str() -> None:
    class Bad(Aggregate):
        @staticmethod
        def create_id() -> Any:
            return 42

    with pytest.raises(EventError, match="ids must be UUIDs or strs"):
        Bad()


def test_event_name_clash_is_refused() -> None:
    with pytest.raises(EventError, match="already has an attribute"):

        class Bad(Aggregate):
            Renamed = 1

            @event("Renamed")
            def rename(self) -> None:
                pass


def test_base_classes_are_shared_types() -> None:
    assert issubclass(Dog.Event, AggregateEvent)
    assert issubclass(Dog.Created, AggregateCreated)
    assert Dog.Snapshot._aggregate_class is Dog


def test_generated_triggers_keep_the_methods_signature() -> None:
    class Shape(Aggregate):
        @event("Drawn")
        def draw(self, kind: str, /, size: int = 1, *, colour: str = "red") -> None:
            self.drawn = (kind, size, colour)

        @event("Named")
        def name_it(self, event_class: str, now: int = 0) -> None:  # clashing names
            self.named = (event_class, now)

    shape = Shape()
    shape.draw("circle", colour="blue")
    assert shape.drawn == ("circle", 1, "blue")
    with pytest.raises(TypeError):
        shape.draw(kind="circle")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        shape.draw("circle", 2, "green")  # type: ignore[misc]
    shape.name_it("x", now=3)
    assert shape.named == ("x", 3)
    assert Shape.draw.__name__ == "draw" and Shape.draw.event_class is Shape.Drawn  # type: ignore[attr-defined]
    events = shape.collect_events()
    assert [e.originator_version for e in events] == [1, 2, 3]
    assert replay(events).drawn == ("circle", 1, "blue")


def test_an_overridden_trigger_event_is_still_called() -> None:
    class Audited(Dog):
        triggered: list[str] = []

        def trigger_event(self, event_class: Any, /, **fields: Any) -> None:
            Audited.triggered.append(event_class.__name__)
            super().trigger_event(event_class, **fields)

    dog = Audited("Rex")
    dog.add_trick("sit")
    assert Audited.triggered == ["TrickAdded"] and dog.tricks == ["sit"]


def _stamp(func: Any) -> Any:
    func.stamped = True  # a decorator under @event that marks the function
    return func


class Documented(Aggregate):
    @event("Noted")
    @_stamp
    def note(self, text: str, at: datetime | None = None) -> None:
        """Note something down."""
        self.text = text

    @event("Renamed")
    def rename(self, now: int) -> None:  # `now` clashes with the generated code's names
        """Rename it."""
        self.now = now


def test_triggers_keep_what_functools_wraps_keeps() -> None:
    body = Documented.Noted._apply_body
    assert body is not None
    for trigger, name, hints in (
        (Documented.note, "note", {"text": str, "at": datetime | None, "return": type(None)}),
        (Documented.rename, "rename", {"now": int, "return": type(None)}),
    ):
        assert trigger.__module__ == __name__
        assert trigger.__name__ == name
        assert trigger.__qualname__ == f"Documented.{name}"
        assert trigger.__doc__ == trigger.__wrapped__.__doc__  # type: ignore[attr-defined]
        assert typing.get_type_hints(trigger) == hints
        assert trigger.__annotations__ == trigger.__wrapped__.__annotations__  # type: ignore[attr-defined]
        assert str(inspect.signature(trigger)) == str(inspect.signature(trigger.__wrapped__))  # type: ignore[attr-defined]
    assert (Documented.note.__doc__, Documented.rename.__doc__) == (
        "Note something down.",
        "Rename it.",
    )
    assert Documented.note.__wrapped__ is body  # type: ignore[attr-defined]
    assert Documented.note.stamped is True  # type: ignore[attr-defined]
    assert Documented.note.event_class is Documented.Noted  # type: ignore[attr-defined]
    assert str(inspect.signature(Documented.note)) == (
        "(self, text: 'str', at: 'datetime | None' = None) -> 'None'"
    )
    doc = Documented()
    doc.note("hello")
    doc.rename(2)
    assert (doc.text, doc.now, doc.version) == ("hello", 2, 3)


def test_an_aggregate_without_init_refuses_positional_arguments() -> None:
    class Counter(Aggregate):
        pass

    for call in (lambda: Counter(42), lambda: Counter(count=42)):
        with pytest.raises(ArgumentError, match=r"Counter\(\).*Counter has no __init__") as error:
            call()
        assert isinstance(error.value, TypeError) and isinstance(error.value, RetellError)
        assert "Counter an __init__ that takes them" in str(error.value)
    chosen = uuid4()
    assert Counter().version == 1 and Counter(id=chosen).id == chosen

    class Opened(Aggregate):  # no __init__, but an explicit Created class with a field
        class Started(Aggregate.Created):
            by: str

    with pytest.raises(ArgumentError, match=r"takes no positional.*fields by name \(by\)"):
        Opened("Ann")
    assert Opened(by="Ann").collect_events()[0].by == "Ann"  # type: ignore[attr-defined]
