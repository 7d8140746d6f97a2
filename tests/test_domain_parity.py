"""The aggregate styles of the `eventsourcing` library, written as its users write them.

Each style is saved and read back on every store. Where the reference raises a
built-in exception for a mistake, so does retell (a subclass of it), so that code
catching it keeps working.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import pytest

from retell import Aggregate, Application, aggregate, event
from retell.dispatch import singledispatchmethod
from retell.domain import DomainEvent, triggers
from retell.errors import AggregateDefinitionError, EventError, EventNameError
from retell.system import ProcessApplication, SingleThreadedRunner, System
from retell.topics import get_topic


@pytest.fixture
def app(store_env: dict[str, str]) -> Iterator[Application]:
    with Application(env={**store_env, "IS_SNAPSHOTTING_ENABLED": "y"}) as application:
        yield application


def stored(app: Application, *aggregates: Any) -> list[Any]:
    """Save the aggregates, then read each back from the store (and from a snapshot)."""
    app.save(*aggregates)
    copies = [app.repository.get(a.id) for a in aggregates]
    for original, again in zip(aggregates, copies, strict=True):
        assert again == original, (again, original)
        app.take_snapshot(original.id)
        assert app.repository.get(original.id) == original  # from the snapshot
    return copies


# @aggregate on a plain class


@aggregate
class Todo:
    def __init__(self, title: str) -> None:
        self.title = title
        self.done = False

    @event("Completed")
    def complete(self) -> None:
        self.done = True


@aggregate("Started")
class Job:
    def __init__(self, name: str) -> None:
        self.name = name


@aggregate(created_event_name="Opened")
class Ticket:
    pass


def test_aggregate_decorator_makes_a_plain_class_an_aggregate(app: Application) -> None:
    todo = Todo("write tests")
    todo.complete()
    assert issubclass(Todo, Aggregate) and Todo.__qualname__ == "Todo"
    assert get_topic(Todo) == f"{__name__}:Todo"
    job, ticket = Job("build"), Ticket()
    assert [type(e) for e in todo.pending_events] == [Todo.Created, Todo.Completed]
    assert type(job.pending_events[0]) is Job.Started
    assert type(ticket.pending_events[0]) is Ticket.Opened
    todo2, job2, ticket2 = stored(app, todo, job, ticket)
    assert (todo2.title, todo2.done, job2.name) == ("write tests", True, "build")
    assert type(ticket2) is Ticket


def test_aggregate_decorator_keeps_the_plain_class_bases() -> None:
    class Greeter:
        def greet(self) -> str:
            return f"hello {self.name}"  # type: ignore[attr-defined]

    @aggregate
    class Person(Greeter):
        def __init__(self, name: str) -> None:
            self.name = name

    assert Person("Ann").greet() == "hello Ann"
    assert Person.__mro__[1:3] == (Greeter, Aggregate)


def test_aggregate_decorator_refuses_an_aggregate() -> None:
    with pytest.raises(TypeError, match="already an Aggregate"):
        aggregate(Todo)


# Dataclass-style aggregates


@dataclass
class Dog(Aggregate):
    name: str
    breed: str = "mixed"
    tricks: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.registered = True

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/parity/dogs/{name}")

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class Cat(Aggregate):  # the same without @dataclass: the annotations alone do it
    name: str
    lives: int = 9


def test_dataclass_style_annotations_define_init_and_the_created_event(app: Application) -> None:
    dog = Dog("Fido")
    dog.add_trick("sit")
    assert (
        str(inspect.signature(Dog.__init__))
        == "(self, name: 'str', breed: 'str' = 'mixed') -> None"
    )
    assert (dog.name, dog.breed, dog.tricks, dog.registered) == ("Fido", "mixed", ["sit"], True)
    assert dog.id == Dog.create_id("Fido")
    created = dog.pending_events[0]
    assert type(created) is Dog.Created and (created.name, created.breed) == ("Fido", "mixed")
    assert not hasattr(created, "tricks")  # init=False: not an argument, not an event field
    cat = Cat("Tom", lives=7)
    assert (cat.name, cat.lives, Cat("Kit").lives) == ("Tom", 7, 9)
    dog2, cat2 = stored(app, dog, cat)
    assert (dog2.tricks, dog2.registered, cat2.lives) == (["sit"], True, 7)


def test_dataclass_decorator_keeps_aggregate_equality_and_repr() -> None:
    dog = Dog("Rex")
    assert dog == copy.deepcopy(dog)
    # The same fields, the same id (from create_id), but not the same creation time:
    # equality compares the whole state, not the dataclass's fields.
    assert Dog("Max") != Dog("Max")
    assert "id=" in repr(dog) and "version=1" in repr(dog)


def test_dataclass_style_subclasses_add_fields(app: Application) -> None:
    @dataclass
    class Animal(Aggregate):
        name: str

    @dataclass
    class Horse(Animal):
        height: int = 150

    horse = Horse("Bess", 160)
    (again,) = stored(app, horse)
    assert (again.name, again.height) == ("Bess", 160)
    assert type(again) is Horse


def test_annotations_next_to_an_init_only_declare_types() -> None:
    class Account(Aggregate):
        balance: int
        history: ClassVar[list[str]] = []

        def __init__(self, owner: str) -> None:
            self.owner = owner
            self.balance = 0

    class Savings(Account):  # an inherited __init__ is kept, whatever is annotated
        rate: float = 0.01

    assert Account("ann").balance == 0 and Savings("bob").owner == "bob"


# Ids and timestamps given at creation


class Box(Aggregate):
    id: UUID
    label: str


class Crate(Aggregate):
    def __init__(self, id: UUID, size: int = 1) -> None:
        self._id = id
        self.size = size


def test_an_id_annotation_or_init_argument_takes_the_id(app: Application) -> None:
    box_id, crate_id = uuid4(), uuid4()
    box = Box(id=box_id, label="books")
    assert Box(uuid4(), "toys").label == "toys"  # the id comes first
    crate = Crate(crate_id, size=3)
    assert (box.id, crate.id) == (box_id, crate_id)
    for aggregate_ in (box, crate):
        assert "id" not in type(aggregate_.pending_events[0]).__struct_fields__
    box2, crate2 = stored(app, box, crate)
    assert (box2.id, box2.label, crate2.id, crate2.size) == (box_id, "books", crate_id, 3)
    with pytest.raises(TypeError, match="id"):
        Box(label="no id")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="id"):
        Crate()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="id"):
        Cat("Tom", id=uuid4())  # not declared: not taken


class Note(Aggregate):
    class Written(Aggregate.Created):
        text: str

    class Edited(Aggregate.Event):
        text: str

        def apply(self, aggregate: Any) -> None:
            aggregate.text = self.text

    def __init__(self, text: str) -> None:
        self.text = text

    def edit(self, text: str, at: datetime) -> None:
        self.trigger_event(self.Edited, text=text, timestamp=at)


def test_create_and_trigger_event_take_an_id_and_a_timestamp(app: Application) -> None:
    chosen, then, later = (
        uuid4(),
        datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2021, 1, 1, tzinfo=UTC),
    )
    note = Note._create(Note.Written, id=chosen, timestamp=then, text="hi")
    note.edit("hello", at=later)
    assert (note.id, note.created_on, note.modified_on) == (chosen, then, later)
    (again,) = stored(app, note)
    assert (again.created_on, again.modified_on, again.text) == (then, later, "hello")
    assert Note._create(event_class=Note.Written, text="x").version == 1
    assert Note._create(Note.Written, id="note-1", text="x").id == "note-1"
    with pytest.raises(TypeError, match="ids must be UUIDs or strs"):
        Note._create(Note.Written, id=1, text="x")  # type: ignore[arg-type]


def test_create_timestamp() -> None:
    now = DomainEvent.create_timestamp()
    assert isinstance(now, datetime) and now.tzinfo is not None
    fixed = datetime(2000, 1, 1, tzinfo=UTC)

    class Clock(Aggregate):
        class Event(Aggregate.Event):
            @staticmethod
            def create_timestamp() -> datetime:
                return fixed

        @event("Ticked")
        def tick(self) -> None:
            pass

    clock = Clock()
    clock.tick()
    assert clock.created_on == clock.modified_on == fixed


def test_initial_version(app: Application) -> None:
    class Counter(Aggregate):
        INITIAL_VERSION = 0

        @event("Incremented")
        def increment(self) -> None:
            self.count = getattr(self, "count", 0) + 1

    counter = Counter()
    counter.increment()
    assert [e.originator_version for e in counter.pending_events] == [0, 1]
    (again,) = stored(app, counter)
    assert (again.version, again.count) == (1, 1)


# Several Created classes, created_event_name


class Order(Aggregate, created_event_name="Placed"):
    class Created(Aggregate.Created):  # an older name, kept for events stored with it
        item: str

    class Placed(Aggregate.Created):
        item: str

    def __init__(self, item: str) -> None:
        self.item = item


class Parcel(Aggregate, created_event_name="Sent"):  # no such class: one is made
    def __init__(self, to: str) -> None:
        self.to = to


class Invoice(Aggregate):  # several and none named: _create() says which
    class Issued(Aggregate.Created):
        pass

    class Imported(Aggregate.Created):
        pass


def test_created_event_name_picks_or_names_the_created_event(app: Application) -> None:
    order, parcel = Order("tea"), Parcel("Ann")
    assert type(order.pending_events[0]) is Order.Placed
    assert type(parcel.pending_events[0]) is Parcel.Sent
    assert parcel.pending_events[0].to == "Ann"  # type: ignore[attr-defined]
    old_style = Order._create(Order.Created, item="coffee")  # as stored events were
    invoice = Invoice._create(Invoice.Imported)
    order2, parcel2, old_style2, invoice2 = stored(app, order, parcel, old_style, invoice)
    assert (order2.item, parcel2.to, old_style2.item) == ("tea", "Ann", "coffee")
    assert type(invoice2) is Invoice
    with pytest.raises(TypeError, match="several Created classes"):
        Invoice()


def test_created_event_name_conflicting_with_init_is_refused() -> None:
    with pytest.raises(TypeError, match="created_event_name"):

        class Bad(Aggregate, created_event_name="Started"):
            @event("Registered")
            def __init__(self) -> None:
                pass


# @event on property setters


class Person(Aggregate):
    def __init__(self, name: str) -> None:
        self._name = name
        self._email = ""

    @property
    def name(self) -> str:
        return self._name

    @event("Renamed")  # above @name.setter
    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def email(self) -> str:
        return self._email

    @email.setter
    @event("EmailChanged")  # below @email.setter
    def email(self, address: str) -> None:
        self._email = address


def test_event_on_property_setters(app: Application) -> None:
    person = Person("Ann")
    person.name = "Anne"
    person.email = "anne@example.com"
    assert (person.name, person.email, person.version) == ("Anne", "anne@example.com", 3)
    renamed, changed = person.pending_events[1:]
    assert (type(renamed), renamed.value) == (Person.Renamed, "Anne")  # type: ignore[attr-defined]
    assert (type(changed), changed.address) == (Person.EmailChanged, "anne@example.com")  # type: ignore[attr-defined]
    (again,) = stored(app, person)
    assert (again.name, again.email) == ("Anne", "anne@example.com")


def test_event_on_a_property_needs_a_name_and_a_setter() -> None:
    with pytest.raises(TypeError, match="name or class"):

        class Above(Aggregate):
            @property
            def x(self) -> int:
                return 1

            @event
            @x.setter
            def x(self, value: int) -> None:
                pass

    with pytest.raises(TypeError, match="name or class"):

        class Below(Aggregate):
            @property
            def x(self) -> int:
                return 1

            @x.setter
            @event
            def x(self, value: int) -> None:
                pass

    with pytest.raises(TypeError, match="no setter"):

        class Getter(Aggregate):
            @event("Read")
            @property
            def x(self) -> int:
                return 1


# pending_events and equality


def test_pending_events_and_equality(app: Application) -> None:
    dog = Dog("Lassie")
    dog.add_trick("fetch")
    assert len(dog.pending_events) == 2
    assert dog.collect_events() and dog.pending_events == []
    dog = Dog("Lassie")
    app.save(dog)
    first, second = app.repository.get(dog.id), app.repository.get(dog.id)
    assert first == second
    assert not first != second  # noqa: SIM202 (__ne__ too)
    second.add_trick("beg")
    assert first != second  # another version, other state
    assert first != Cat("Lassie") and first != "Lassie"
    with pytest.raises(TypeError):
        hash(first)


# Event classes with dataclasses.field(...), and a base Event's apply


user_id: ContextVar[UUID | None] = ContextVar("user_id", default=None)


class Page(Aggregate):
    class Event(Aggregate.Event):
        user_id: UUID | None = field(default_factory=user_id.get, init=False)
        tags: list[str] = field(default_factory=list)

        def apply(self, aggregate: Any) -> None:  # runs after the @event body
            aggregate.modified_by = self.user_id

    class Created(Event, Aggregate.Created):
        title: str

    def __init__(self, title: str) -> None:
        self.title = title
        self.modified_by: UUID | None = None

    @event("Retitled")
    def retitle(self, title: str) -> None:
        self.modified_by = "overwritten by Event.apply"
        self.title = title

    class Annotated(Event):
        note: str

    @event(Annotated)
    def annotate(self, note: str) -> None:
        self.note = note


def test_event_fields_declared_with_dataclasses_field(app: Application) -> None:
    someone = uuid4()
    token = user_id.set(someone)
    try:
        page = Page("Home")
        page.retitle("Welcome")
        page.annotate("draft")
    finally:
        user_id.reset(token)
    assert [e.user_id for e in page.pending_events] == [someone] * 3  # type: ignore[attr-defined]
    assert all(e.tags == [] for e in page.pending_events)  # type: ignore[attr-defined]
    assert (page.modified_by, page.title, page.note) == (someone, "Welcome", "draft")
    assert issubclass(Page.Annotated, Page.Event) and issubclass(Page.Retitled, Page.Event)
    (again,) = stored(app, page)  # read back with the variable unset: the stored value
    assert (again.modified_by, again.title, again.note) == (someone, "Welcome", "draft")
    with pytest.raises(TypeError, match="init=False"):
        page.trigger_event(Page.Annotated, note="x", user_id=uuid4())


def test_event_classes_of_the_body_become_subclasses_of_the_aggregates_event() -> None:
    class Shelf(Aggregate):
        class Event(Aggregate.Event):
            def apply(self, aggregate: Any) -> None:
                aggregate.applied.append(type(self).__name__)

        class Built(Aggregate.Created):  # not written as a Shelf.Event
            pass

        class Stocked(Aggregate.Event):  # nor this
            count: int

        def __init__(self) -> None:
            self.applied: list[str] = []

        @event(Stocked)
        def stock(self, count: int) -> None:
            self.count = count

    shelf = Shelf()
    shelf.stock(3)
    assert shelf.applied == ["Built", "Stocked"] and shelf.count == 3
    assert isinstance(shelf.pending_events[0], Shelf.Event)
    assert type(shelf.pending_events[1]) is Shelf.Stocked


# Policies and projectors that name classes defined later


class Tally(ProcessApplication):
    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: Any) -> None:
        """Other events: nothing to do."""

    @policy.register
    def _(self, domain_event: Kennel.Admitted, processing_event: Any) -> None:  # defined below
        self.seen.append(domain_event.name)

    @policy.register("Kennel.Discharged")
    def _(self, domain_event: Any, processing_event: Any) -> None:
        self.seen.append(f"-{domain_event.name}")

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.seen: list[str] = []


class Kennel(Aggregate):
    class Event(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.when(self)

    class Admitted(Event, Aggregate.Created):
        name: str

    class Discharged(Event):
        name: str

    @singledispatchmethod
    def when(self, event: Any) -> None:
        """Events that change nothing."""

    @when.register
    def _(self, event: Kennel.Admitted) -> None:  # Kennel is not defined yet
        self.dogs = [event.name]

    @when.register
    def _(self, event: Discharged) -> None:  # a name of the class body
        self.dogs.remove(event.name)

    def discharge(self, name: str) -> None:
        self.trigger_event(self.Discharged, name=name)


class Yard(Application):
    def admit(self, name: str) -> UUID:
        kennel = Kennel._create(Kennel.Admitted, name=name)
        kennel.discharge(name)
        self.save(kennel)
        return kennel.id


def test_singledispatchmethod_registers_classes_defined_later(store_env: dict[str, str]) -> None:
    with SingleThreadedRunner(System(pipes=[[Yard, Tally]]), env=store_env) as runner:
        kennel_id = runner.get(Yard).admit("Rex")
        assert runner.get(Tally).seen == ["Rex", "-Rex"]
        assert runner.get(Yard).repository.get(kennel_id).dogs == []


def test_singledispatchmethod_takes_topics_and_reports_unknown_names() -> None:
    class Handler:
        @singledispatchmethod
        def handle(self, event: Any) -> str:
            return "other"

        @handle.register(f"{__name__}:Kennel.Discharged")
        def _(self, event: Any) -> str:
            return "discharged"

    class Broken(Handler):
        @singledispatchmethod
        def handle(self, event: Any) -> str:
            return "other"

        @handle.register("NoSuchClass")
        def _(self, event: Any) -> str:
            return "never"

    discharged = Kennel.Discharged(
        originator_id=uuid4(), originator_version=2, timestamp=datetime.now(UTC), name="x"
    )
    assert (Handler().handle(discharged), Handler().handle(1)) == ("discharged", "other")
    with pytest.raises(NameError, match="NoSuchClass"):
        Broken().handle(discharged)


# Errors a migrating user's code catches


def _varargs() -> None:
    class Bad(Aggregate):
        @event("Did")
        def do(self, *args: Any) -> None:
            pass


def _mismatch() -> None:
    class Bad(Aggregate):
        class Did(Aggregate.Event):
            amount: int

        @event(Did)
        def do(self, quantity: int) -> None:
            pass


def _created_on_a_method() -> None:
    class Bad(Aggregate):
        class Opened(Aggregate.Created):
            pass

        @event(Opened)
        def do(self) -> None:
            pass


def _name_clash() -> None:
    class Bad(Aggregate):
        @event("do")
        def do(self) -> None:
            pass


def _used_twice() -> None:
    class Bad(Aggregate):
        class Did(Aggregate.Event):
            pass

        @event(Did)
        def do(self) -> None:
            pass

        @event(Did)
        def redo(self) -> None:
            pass


def _empty_name() -> None:
    class Bad(Aggregate):
        @event("")
        def do(self) -> None:
            pass


@pytest.mark.parametrize(
    ("mistake", "builtin"),
    [
        (_varargs, TypeError),
        (_mismatch, TypeError),
        (_created_on_a_method, TypeError),
        (_name_clash, TypeError),
        (_used_twice, TypeError),
        (lambda: event(42), TypeError),  # type: ignore[call-overload]
        (Dog, TypeError),  # no name
        (lambda: Dog("a", "b", "c"), TypeError),  # type: ignore[call-arg]
        (lambda: Dog("a").add_trick(), TypeError),  # type: ignore[call-arg]
        (lambda: Note("x").trigger_event(Note.Edited, txt="x"), TypeError),
        (_empty_name, ValueError),
    ],
)
def test_mistakes_raise_what_the_reference_raises(mistake: Any, builtin: type) -> None:
    with pytest.raises(builtin):
        mistake()


def test_error_classes() -> None:
    assert issubclass(AggregateDefinitionError, EventError) and issubclass(
        AggregateDefinitionError, TypeError
    )
    assert issubclass(EventNameError, AggregateDefinitionError)
    assert issubclass(EventNameError, ValueError)
    assert not issubclass(EventError, TypeError)  # applying an event out of order is no TypeError


def test_triggers_is_event() -> None:
    assert triggers is event


def test_events_mutate_any_object_with_an_id_and_a_version() -> None:
    class Plain:
        def __init__(self, id: UUID) -> None:
            self.id, self.version, self.modified_on = id, 1, None

    plain = Plain(uuid4())
    edited = Note.Edited(
        originator_id=plain.id, originator_version=2, timestamp=datetime.now(UTC), text="x"
    )
    assert edited.mutate(plain) is plain  # type: ignore[arg-type]
    assert (plain.version, plain.modified_on, plain.text) == (2, edited.timestamp, "x")  # type: ignore[attr-defined]
    with pytest.raises(EventError, match="only version 3"):
        edited.mutate(plain)  # type: ignore[arg-type]


def test_dataclass_fields_of_an_aggregate_are_dataclass_fields() -> None:
    assert [f.name for f in dataclasses.fields(Dog)] == ["name", "breed", "tricks"]
    assert [f.name for f in dataclasses.fields(Cat)] == ["name", "lives"]  # no @dataclass
