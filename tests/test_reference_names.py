"""The `eventsourcing` library's names that its users type, and what they do with them.

Each name is checked by what code written for that library does with it: catch an
error where the library raises it, override a hook, set a key, subscript a class,
run a projection its way. Names that are only other names of retell's classes are
checked to be those classes, so that one hierarchy holds.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args
from uuid import UUID, uuid4

import pytest

import retell
import retell.application
import retell.domain
import retell.errors
import retell.persistence
import retell.system
from retell import Aggregate, Application, EventSourcedLog, event
from retell.application import EventStore, ProcessingEvent, Repository
from retell.cipher import Cipher
from retell.compressor import Compressor
from retell.config import EnvType
from retell.domain import LogEvent, MutatorFunction, datetime_now_with_tzinfo
from retell.errors import (
    AggregateNotFound,
    ConcurrencyError,
    ConfigurationError,
    EventError,
    IntegrityError,
    PolicyError,
    RetellError,
    RunnerError,
    TranscodingError,
    WaitTimeout,
)
from retell.memory import MemoryTrackingRecorder
from retell.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    Mapper,
    Tracking,
    Transcoder,
    Transcoding,
    UUIDAsHex,
)
from retell.projection import Projection, ProjectionRunner
from retell.system import (
    MultiThreadedRunner,
    NewMultiThreadedRunner,
    NewSingleThreadedRunner,
    ProcessApplication,
    Runner,
    SingleThreadedRunner,
    System,
)
from tests.dogschool import Dog, TrainingSchool

# Errors


def test_the_librarys_error_names_are_retells_classes() -> None:
    errors = retell.errors
    assert errors.EventSourcingError is RetellError
    assert errors.AggregateNotFoundError is AggregateNotFound
    assert retell.AggregateNotFoundError is retell.application.AggregateNotFoundError
    assert retell.AggregateNotFoundError is AggregateNotFound
    assert errors.EventProcessingError is PolicyError
    assert errors.RecordConflictError is IntegrityError
    assert errors.TranscodingNotRegisteredError is TranscodingError
    assert retell.domain.EventSourcingError is RetellError
    for name in (
        "PersistenceError",
        "InterfaceError",
        "DatabaseError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
        "RecordConflictError",
        "TranscodingNotRegisteredError",
        "WaitInterruptedError",
    ):
        assert getattr(retell.persistence, name) is getattr(errors, name), name
    for name in ("OriginatorIDError", "OriginatorVersionError", "WaitInterruptedError"):
        assert issubclass(getattr(errors, name), RetellError), name
    assert issubclass(errors.RunnerAlreadyStartedError, RunnerError)


def test_an_unknown_id_is_caught_as_aggregate_not_found_error() -> None:
    app = TrainingSchool()
    with pytest.raises(retell.application.AggregateNotFoundError):
        app.repository.get(uuid4())


def test_a_stale_save_is_caught_as_record_conflict_error() -> None:
    app = TrainingSchool()
    dog_id = app.register("Fido")
    one, two = app.repository.get(dog_id), app.repository.get(dog_id)
    one.add_trick("sit")
    two.add_trick("beg")
    app.save(one)
    with pytest.raises(retell.persistence.RecordConflictError) as caught:
        app.save(two)
    assert isinstance(caught.value, ConcurrencyError)


def test_an_unsupported_value_is_caught_as_transcoding_not_registered_error() -> None:
    class Collar:  # a class retell does not know how to store
        pass

    dog = Dog("Fido")
    dog.add_trick(Collar())  # type: ignore[arg-type]
    with pytest.raises(retell.persistence.TranscodingNotRegisteredError, match="Collar"):
        TrainingSchool().save(dog)


def test_an_event_of_another_aggregate_is_an_originator_id_error() -> None:
    fido, rex = Dog("Fido"), Dog("Rex")
    fido.add_trick("sit")
    trick_added = fido.collect_events()[-1]  # version 2 of Fido; Rex is at version 1
    with pytest.raises(retell.domain.OriginatorIDError, match="belongs to aggregate"):
        trick_added.mutate(rex)
    with pytest.raises(EventError):  # what retell's own code catches
        trick_added.mutate(rex)


def test_an_event_out_of_sequence_is_an_originator_version_error() -> None:
    fido = Dog("Fido")
    fido.add_trick("sit")
    trick_added = fido.collect_events()[-1]  # version 2, and Fido is at version 2 already
    with pytest.raises(retell.domain.OriginatorVersionError, match="only version 3"):
        trick_added.mutate(fido)


def test_a_snapshot_without_snapshotting_is_an_assertion_error() -> None:
    from retell.errors import SnapshottingNotEnabled

    class Note(Aggregate):
        pass

    app = Application()
    note = Note()
    app.save(note)
    with pytest.raises(AssertionError, match="IS_SNAPSHOTTING_ENABLED") as caught:
        app.take_snapshot(note.id)
    assert isinstance(caught.value, SnapshottingNotEnabled)
    assert isinstance(caught.value, ConfigurationError)


class Refuser(ProcessApplication):
    def policy(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        raise ValueError("no dogs today")


def test_a_failed_policy_is_caught_as_event_processing_error_with_its_message() -> None:
    """As the library's runner threads wrap it: args[0] is the policy's error as text."""
    runner: MultiThreadedRunner[UUID] = MultiThreadedRunner(
        System(pipes=[[TrainingSchool, Refuser]])
    )
    runner.start()
    runner.get(TrainingSchool).register("Fido")
    with pytest.raises(retell.errors.EventProcessingError) as caught:
        runner.watch_for_errors(timeout=10)
    assert caught.value.args[0] == "no dogs today"
    assert isinstance(caught.value.__cause__, ValueError)
    assert "Refuser failed to process position 1 of TrainingSchool" in str(caught.value)


def test_starting_a_started_runner_is_runner_already_started_error() -> None:
    started = pytest.raises(retell.errors.RunnerAlreadyStartedError, match="already started")
    with SingleThreadedRunner(System(pipes=[[TrainingSchool, Refuser]])) as runner, started:
        runner.start()
    started = pytest.raises(retell.errors.RunnerAlreadyStartedError, match="already started")
    with ProjectionRunner(TrainingSchool, Tricks, TricksView) as projection, started:
        projection.start()


def test_an_interrupted_wait_is_wait_interrupted_error() -> None:
    view = MemoryTrackingRecorder()
    interrupt = threading.Event()
    threading.Timer(0.1, interrupt.set).start()
    started = time.monotonic()
    with pytest.raises(retell.persistence.WaitInterruptedError) as caught:
        view.wait("Leader", 1, timeout=10, interrupt=interrupt)
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, WaitTimeout)  # code catching timeouts still does
    view.insert_tracking(Tracking("Leader", 1))
    view.wait("Leader", 1, timeout=1, interrupt=interrupt)  # processed: no error


# Domain and application names


def test_a_log_event_subclass_is_logged_in_an_event_sourced_log() -> None:
    class DogRegistered(LogEvent):
        name: str

    app = Application()
    log = EventSourcedLog(app.events, uuid4(), DogRegistered)
    app.save(log.trigger_event(name="Fido"))
    app.save(log.trigger_event(name="Rex"))
    assert [e.name for e in log.get()] == ["Fido", "Rex"]


def test_datetime_now_with_tzinfo_is_now_in_utc() -> None:
    now = datetime_now_with_tzinfo()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


@dataclass(frozen=True)
class Counter:
    id: UUID
    version: int
    count: int


class CounterEvent(retell.domain.DomainEvent):
    step: int


def apply_step(event: CounterEvent, counter: Counter | None) -> Counter | None:
    count = (counter.count if counter else 0) + event.step
    return Counter(event.originator_id, event.originator_version, count)


def test_a_mutator_function_folds_into_a_projector_function() -> None:
    mutator: MutatorFunction[CounterEvent, Counter] = apply_step
    assert get_args(MutatorFunction[CounterEvent, Counter])[0] == [CounterEvent, Counter | None]
    app = Application()
    counter_id = uuid4()
    app.save(
        *(
            CounterEvent(
                originator_id=counter_id,
                originator_version=v,
                timestamp=datetime_now_with_tzinfo(),
                step=v,
            )
            for v in (1, 2, 3)
        )
    )
    counter = app.repository.get(
        counter_id,
        projector_func=lambda c, events: functools.reduce(lambda a, e: mutator(e, a), events, c),
    )
    assert counter == Counter(counter_id, 3, 6)


def test_env_type_annotates_an_env() -> None:
    def configured(env: EnvType) -> Application:
        return Application(env=env)

    assert EnvType == retell.application.EnvType
    assert configured({"PERSISTENCE_MODULE": "retell.memory"}).env["PERSISTENCE_MODULE"]


def test_clear_topic_cache_forgets_registered_old_names() -> None:
    import retell.compressor
    from retell.errors import TopicError
    from retell.topics import clear_topic_cache, get_topic, register_topic, resolve_topic

    def define() -> type[Aggregate]:
        class Local(Aggregate):
            pass

        return Local

    local = define()
    register_topic("retell_clear_shop", retell.compressor)
    register_topic("retell_clear_old:Thing", retell.compressor.ZlibCompressor)
    zlib = resolve_topic("retell_clear_shop:ZlibCompressor")
    assert zlib is retell.compressor.ZlibCompressor
    clear_topic_cache()
    for topic in ("retell_clear_shop:ZlibCompressor", "retell_clear_old:Thing"):
        with pytest.raises(TopicError):
            resolve_topic(topic)
    # Each class keeps its own topic, even one defined in a function.
    assert resolve_topic(get_topic(local)) is local
    assert resolve_topic(get_topic(local.Created)) is local.Created
    assert resolve_topic(get_topic(Owner)) is Owner


def test_an_environment_is_made_without_a_name() -> None:
    from retell.config import Environment

    assert Environment().name == ""
    assert len(Environment()) == 0
    env = Environment(env={"CIPHER_KEY": "k", "_CIPHER_KEY": "not a prefixed key"})
    assert env["CIPHER_KEY"] == "k"
    assert env.describe("CIPHER_KEY") == "CIPHER_KEY"
    named = Environment("Shop", env={"SHOP_CIPHER_KEY": "shop's", "CIPHER_KEY": "k"})
    assert named.name == "Shop"
    assert named["CIPHER_KEY"] == "shop's"


def test_a_timestamp_argument_times_the_event() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)

    class Shelter(Aggregate):
        class Moved(Aggregate.Event):
            town: str

        @event("Opened")
        def __init__(self, town: str, timestamp: datetime | None = None) -> None:
            self.town = town
            self.seen = timestamp

        @event("Renamed")
        def rename(self, town: str, timestamp: datetime) -> None:
            self.town = town
            self.seen = timestamp

        @event(Moved)
        def move(self, town: str, *, timestamp: datetime | None = None) -> None:
            self.town = town
            self.seen = timestamp

    shelter = Shelter("Leeds", timestamp=start)
    assert shelter.created_on == shelter.modified_on == shelter.seen == start
    assert Shelter.Opened.__struct_fields__.count("timestamp") == 1
    shelter.rename("York", start + timedelta(days=1))
    assert shelter.modified_on == shelter.seen == start + timedelta(days=1)
    shelter.move("Hull", timestamp=start + timedelta(days=2))
    assert shelter.modified_on == shelter.seen == start + timedelta(days=2)
    shelter.move("Bath")  # not given: the event's own time, which the body gets too
    assert shelter.seen == shelter.modified_on > start + timedelta(days=2)
    app = Application()
    app.save(shelter)
    copy = app.repository.get(shelter.id)
    assert copy == shelter
    assert [e.timestamp for e in app.events.get(shelter.id)][:3] == [
        start + timedelta(days=n) for n in range(3)
    ]
    fresh = Shelter("Ely")
    assert fresh.seen == fresh.created_on


def test_a_create_id_that_is_not_static_or_class_method_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="create_id is not a static or class method"):

        class Instance(Aggregate):
            def __init__(self, name: str) -> None:
                self.name = name

            def create_id(self, name: str) -> UUID:
                return uuid4()

    with pytest.raises(TypeError, match="create_id is not a static or class method"):

        class Undecorated(Aggregate):
            def __init__(self, name: str) -> None:
                self.name = name

            def create_id(name: str) -> UUID:  # type: ignore[misc]  # noqa: N805
                return uuid4()

    class ClassMethod(Aggregate):
        def __init__(self, name: str) -> None:
            self.name = name

        @classmethod
        def create_id(cls, name: str) -> str:
            return f"{cls.__name__}-{name}"

    assert ClassMethod("x").id == "ClassMethod-x"


def test_names_exported_where_the_library_exports_them() -> None:
    assert retell.system.NotificationLogReader is retell.NotificationLogReader
    assert retell.application.ProcessingEvent is retell.system.ProcessingEvent
    assert retell.persistence.Recording is retell.Recording
    assert retell.persistence.EventStore is EventStore
    assert retell.persistence.Cipher is Cipher
    assert retell.persistence.Compressor is Compressor
    with pytest.raises(AttributeError):
        retell.persistence.NoSuchName  # noqa: B018


def test_a_policy_is_called_with_a_processing_event_made_by_hand() -> None:
    """How a unit test of a policy makes its processing event, in the library."""

    class Welcomer(ProcessApplication):
        def policy(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
            processing_event.collect_events(Dog(f"friend of {domain_event.name}"))

    fido = Dog("Fido")
    processing_event = ProcessingEvent(tracking=Tracking("TrainingSchool", 1))
    Welcomer().policy(fido.collect_events()[0], processing_event)
    assert [dog.name for dog in processing_event.aggregates] == ["friend of Fido"]


# Stores and settings


def test_the_librarys_store_names_are_retells_classes() -> None:
    import retell.memory
    import retell.postgres
    import retell.sqlite

    memory = retell.memory
    assert memory.POPOFactory is memory.Factory
    assert memory.POPOAggregateRecorder is memory.MemoryAggregateRecorder
    assert memory.POPOApplicationRecorder is memory.MemoryApplicationRecorder
    assert memory.POPOTrackingRecorder is memory.MemoryTrackingRecorder
    assert memory.POPOProcessRecorder is memory.MemoryProcessRecorder
    assert retell.sqlite.SQLiteFactory is retell.sqlite.Factory
    assert retell.postgres.PostgresFactory is retell.postgres.Factory


def test_factories_name_their_keys_as_class_attributes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import retell.postgres
    import retell.sqlite
    from retell.cipher import AESCipher
    from retell.persistence import InfrastructureFactory

    names = {
        InfrastructureFactory: [
            "PERSISTENCE_MODULE",
            "TRANSCODER_TOPIC",
            "MAPPER_TOPIC",
            "CIPHER_TOPIC",
            "CIPHER_KEY",
            "COMPRESSOR_TOPIC",
            "IS_SNAPSHOTTING_ENABLED",
            "ORIGINATOR_ID_TYPE",
            "CREATE_TABLE",
        ],
        retell.sqlite.Factory: ["SQLITE_DBNAME", "SQLITE_LOCK_TIMEOUT", "CIPHER_KEY"],
        retell.postgres.Factory: [
            "POSTGRES_DBNAME",
            "POSTGRES_HOST",
            "POSTGRES_PORT",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_SCHEMA",
            "POSTGRES_CONNECT_TIMEOUT",
            "POSTGRES_LOCK_TIMEOUT",
            "POSTGRES_POOL_SIZE",
            "PERSISTENCE_MODULE",
        ],
        AESCipher: ["CIPHER_KEY"],
    }
    for cls, keys in names.items():
        for key in keys:
            assert getattr(cls, key) == key, (cls, key)
    # The library's users set keys through them.
    dbname = str(tmp_path / "keys.db")
    monkeypatch.setenv(InfrastructureFactory.PERSISTENCE_MODULE, "retell.sqlite")
    monkeypatch.setenv(retell.sqlite.Factory.SQLITE_DBNAME, dbname)
    monkeypatch.setenv(InfrastructureFactory.IS_SNAPSHOTTING_ENABLED, "y")
    monkeypatch.setenv(InfrastructureFactory.CIPHER_KEY, AESCipher.create_key(16))
    app = Application()
    try:
        assert isinstance(app.factory, retell.sqlite.Factory)
        assert app.factory.settings.dbname == dbname
        assert app.snapshots is not None
        assert app.mapper.cipher is not None
    finally:
        app.close()


@pytest.mark.parametrize("key", ["INFRASTRUCTURE_FACTORY", "FACTORY_TOPIC"])
@pytest.mark.parametrize("value", ["retell.sqlite:Factory", "retell.sqlite:SQLiteFactory"])
def test_a_legacy_factory_key_naming_a_retell_factory_chooses_the_store(
    key: str, value: str, tmp_path: Path
) -> None:
    db = tmp_path / "dogs.db"
    with TrainingSchool(env={key: value, "SQLITE_DBNAME": str(db)}) as school:
        school.register("Fido")
    with TrainingSchool(env={"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(db)}) as s:
        assert s.repository.get(Dog.create_id("Fido")).name == "Fido"


def test_a_legacy_factory_key_may_name_a_store_module_and_agree_with_persistence_module(
    tmp_path: Path,
) -> None:
    env = {
        "INFRASTRUCTURE_FACTORY": "retell.sqlite",
        "PERSISTENCE_MODULE": "retell.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "dogs.db"),
    }
    with TrainingSchool(env=env) as school:
        assert type(school.factory).__module__ == "retell.sqlite"


@pytest.mark.parametrize(
    ("env", "key", "hint"),
    [
        (
            {"INFRASTRUCTURE_FACTORY": "eventsourcing.sqlite:Factory"},
            "INFRASTRUCTURE_FACTORY",
            "PERSISTENCE_MODULE=retell.sqlite",
        ),
        (
            {"FACTORY_TOPIC": "eventsourcing.popo:POPOFactory"},
            "FACTORY_TOPIC",
            "PERSISTENCE_MODULE=retell.memory",
        ),
        (
            {"TRAININGSCHOOL_INFRASTRUCTURE_FACTORY": "eventsourcing.postgres:Factory"},
            "TRAININGSCHOOL_INFRASTRUCTURE_FACTORY",
            "PERSISTENCE_MODULE=retell.postgres",
        ),
        (
            {"INFRASTRUCTURE_FACTORY": "retell.errors:RetellError"},
            "INFRASTRUCTURE_FACTORY",
            "PERSISTENCE_MODULE",
        ),
        (
            {"PERSISTENCE_MODULE": "retell.memory", "INFRASTRUCTURE_FACTORY": "retell.sqlite"},
            "INFRASTRUCTURE_FACTORY",
            "PERSISTENCE_MODULE alone",
        ),
        (
            {"TRANSCODER_TOPIC": "eventsourcing.persistence:JSONTranscoder"},
            "TRANSCODER_TOPIC",
            "register_transcodings()",
        ),
        (
            {"TRANSCODER_TOPIC": "retell.persistence:Mapper"},
            "TRANSCODER_TOPIC",
            "register_transcodings()",
        ),
        (
            {"MAPPER_TOPIC": "eventsourcing.persistence:Mapper"},
            "MAPPER_TOPIC",
            "construct_mapper()",
        ),
        (
            {"APPLICATION_RECORDER_TOPIC": "a:B"},
            "APPLICATION_RECORDER_TOPIC",
            "construct_recorder()",
        ),
        ({"PROCESS_RECORDER_TOPIC": "a:B"}, "PROCESS_RECORDER_TOPIC", "construct_recorder()"),
        ({"TRACKING_RECORDER_TOPIC": "a:B"}, "TRACKING_RECORDER_TOPIC", "ProjectionRunner"),
        ({"PERSISTENCE_MODULE": "eventsourcing.popo"}, "PERSISTENCE_MODULE", "retell.memory"),
    ],
)
def test_a_librarys_key_retell_cannot_use_is_an_error_saying_what_to_set(
    env: dict[str, str], key: str, hint: str
) -> None:
    """Not ignored: INFRASTRUCTURE_FACTORY=eventsourcing.sqlite:Factory once gave memory."""
    with pytest.raises(ConfigurationError) as caught:
        TrainingSchool(env=env)
    assert key in str(caught.value) and hint in str(caught.value)


class CountingTranscoder(Transcoder):
    encoded = 0

    def encode(self, obj: Any) -> bytes:
        type(self).encoded += 1
        return super().encode(obj)


class CountingMapper(Mapper):
    stored = 0

    def to_stored_event(self, event: Any) -> Any:
        type(self).stored += 1
        return super().to_stored_event(event)


def test_transcoder_and_mapper_topics_naming_retell_subclasses_are_used() -> None:
    env = {
        "TRANSCODER_TOPIC": "tests.test_reference_names:CountingTranscoder",
        "MAPPER_TOPIC": "tests.test_reference_names:CountingMapper",
        "TRANSCODER_STRICT": "y",
    }
    school = TrainingSchool(env=env)
    assert type(school.mapper) is CountingMapper and type(school.transcoder) is CountingTranscoder
    assert school.transcoder.strict
    before = CountingTranscoder.encoded, CountingMapper.stored
    school.register("Fido")
    assert (CountingTranscoder.encoded, CountingMapper.stored) == (before[0] + 1, before[1] + 1)


# Application hooks and attributes


class EmailAddress:
    def __init__(self, address: str) -> None:
        self.address = address

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EmailAddress) and other.address == self.address

    __hash__ = None  # type: ignore[assignment]


class EmailAddressAsStr(Transcoding):
    type = EmailAddress
    name = "email_address"

    def encode(self, obj: EmailAddress) -> str:
        return obj.address

    def decode(self, data: str) -> EmailAddress:
        return EmailAddress(data)


class Owner(Aggregate):
    @event("Registered")
    def __init__(self, email: EmailAddress) -> None:
        self.email = email


def test_an_overridden_construct_transcoder_is_used() -> None:
    class Owners(Application):
        def construct_transcoder(self) -> Transcoder:
            transcoder = super().construct_transcoder()
            transcoder.register(EmailAddressAsStr())
            return transcoder

    owner = Owner(EmailAddress("fido@example.com"))
    with pytest.raises(TranscodingError):  # without the override, the type is unknown
        Application().save(Owner(EmailAddress("rex@example.com")))
    app = Owners()
    app.save(owner)
    assert app.repository.get(owner.id).email == EmailAddress("fido@example.com")


def test_overridden_construct_hooks_are_used(tmp_path: Path) -> None:
    import retell.sqlite

    class LoudEventStore(EventStore):
        pass

    made: list[str] = []

    class School(TrainingSchool):
        is_snapshotting_enabled = True

        def construct_factory(self, env: Any) -> Any:
            made.append("factory")
            return retell.sqlite.SQLiteFactory(env)

        def construct_mapper(self) -> Mapper:
            made.append("mapper")
            return self.factory.mapper(transcoder=self.construct_transcoder())

        def construct_event_store(self) -> EventStore:
            made.append("event store")
            return LoudEventStore(self.mapper, self.recorder)

        def construct_snapshot_store(self) -> EventStore:
            made.append("snapshot store")
            return LoudEventStore(self.mapper, self.factory.aggregate_recorder("snapshots"))

        def construct_notification_log(self) -> Any:
            made.append("notification log")
            return retell.application.LocalNotificationLog(self.recorder, section_size=2)

    with School(env={"SQLITE_DBNAME": str(tmp_path / "school.db")}) as school:
        assert made == ["factory", "mapper", "event store", "snapshot store", "notification log"]
        assert type(school.recorder).__module__ == "retell.sqlite.recorders"
        assert type(school.events) is LoudEventStore is type(school.snapshots)
        assert school.repository.event_store is school.events
        assert school.repository.snapshot_store is school.snapshots
        for name in ("Fido", "Rex", "Bo"):
            school.register(name)
        school.take_snapshot(Dog.create_id("Fido"))
        assert school.snapshots is not None
        assert len(school.snapshots.get(Dog.create_id("Fido"))) == 1
        assert school.notification_log["1,10"].next_id == "3,4"


def test_log_section_size_is_notification_log_section_size() -> None:
    class School(TrainingSchool):
        log_section_size = 2

    class Academy(TrainingSchool):
        notification_log_section_size = 3

    assert School.notification_log_section_size == 2
    assert Academy.log_section_size == 3
    school = School()
    for name in ("Fido", "Rex", "Bo"):
        school.register(name)
    section = school.notification_log["1,10"]
    assert (section.id, section.next_id) == ("1,2", "3,4")
    assert Application.log_section_size == 10
    with pytest.raises(ConfigurationError, match="set one of them"):

        class Both(Application):
            log_section_size = 2
            notification_log_section_size = 3


def test_a_repository_made_with_the_librarys_keywords() -> None:
    class School(TrainingSchool):
        is_snapshotting_enabled = True

        def construct_repository(self) -> Repository:
            return Repository(
                event_store=self.events, snapshot_store=self.snapshots, cache_maxsize=None
            )

    school = School()
    dog_id = school.register("Fido")
    assert school.repository.get(dog_id).name == "Fido"
    assert school.repository.event_store is school.events is school.repository.events
    assert school.repository.snapshot_store is school.snapshots is not None
    assert school.repository.cache is None  # None: no cache, in both
    with pytest.raises(TypeError, match="twice"):
        Repository(school.events, event_store=school.events)
    with pytest.raises(TypeError, match="needs the event store"):
        Repository()


def test_registering_the_librarys_transcodings_changes_nothing() -> None:
    class Registering(Application):
        def register_transcodings(self, transcoder: Transcoder) -> None:
            transcoder.register(UUIDAsHex())
            transcoder.register(DecimalAsStr())
            transcoder.register(DatetimeAsISO())

    class Priced(Aggregate):
        @event("Priced")
        def __init__(self, ref: UUID, price: Decimal, at: datetime, anything: Any) -> None:
            self.ref, self.price, self.at, self.anything = ref, price, at, anything

    values = (uuid4(), Decimal("9.99"), datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    item = Priced(*values, anything=list(values))
    (created,) = item.collect_events()
    plain, registering = Application(), Registering()
    assert registering.mapper.to_stored_event(created) == plain.mapper.to_stored_event(created)
    registering.save(created)
    again = registering.repository.get(item.id)
    assert (again.ref, again.price, again.at, again.anything) == (*values, list(values))
    assert UUIDAsHex().decode(UUIDAsHex().encode(values[0])) == values[0]
    assert DecimalAsStr().decode(DecimalAsStr().encode(values[1])) == values[1]
    assert DatetimeAsISO().decode(DatetimeAsISO().encode(values[2])) == values[2]


# Process applications, the library's way


class Welcomes(ProcessApplication):
    pull_section_size = 2
    topics = (Dog.Registered,)

    def policy(self, domain_event: Any, processing_event: ProcessingEvent) -> None:
        if domain_event.name == "Bad":
            raise ValueError("not welcome")
        processing_event.collect_events(Dog(f"friend of {domain_event.name}"))


@pytest.fixture
def school_and_welcomes() -> Iterator[tuple[TrainingSchool, Welcomes]]:
    school, welcomes = TrainingSchool(), Welcomes()
    welcomes.follow(school.name, school.notification_log)
    for name in ("Fido", "Rex", "Bo"):
        school.register(name)
    school.add_trick("Fido", "sit")  # not a topic Welcomes follows
    school.register("Max")
    yield school, welcomes
    school.close()
    welcomes.close()


def test_pull_section_size_is_page_size() -> None:
    assert Welcomes.page_size == 2
    assert ProcessApplication.pull_section_size == ProcessApplication.page_size
    with pytest.raises(ConfigurationError, match="set one of them"):

        class Both(ProcessApplication):
            pull_section_size = 2
            page_size = 3


def test_pull_and_convert_notifications(
    school_and_welcomes: tuple[TrainingSchool, Welcomes],
) -> None:
    _, welcomes = school_and_welcomes
    pages = list(welcomes.pull_notifications("TrainingSchool", start=None))
    assert [[n.id for n in page] for page in pages] == [[1, 2], [3, 5]]
    after_two = welcomes.pull_notifications("TrainingSchool", 2, inclusive_of_start=False)
    assert [[n.id for n in page] for page in after_two] == [[3, 5]]
    up_to_three = welcomes.pull_notifications("TrainingSchool", 2, stop=3)
    assert [[n.id for n in page] for page in up_to_three] == [[2, 3]]
    jobs = welcomes.convert_notifications("TrainingSchool", pages[1])
    assert [(type(e), e.name, t) for e, t in jobs] == [
        (Dog.Registered, "Bo", Tracking("TrainingSchool", 3)),
        (Dog.Registered, "Max", Tracking("TrainingSchool", 5)),
    ]


def test_process_event_records_with_the_tracking_once(
    school_and_welcomes: tuple[TrainingSchool, Welcomes],
) -> None:
    _, welcomes = school_and_welcomes
    (page, *_) = welcomes.pull_notifications("TrainingSchool", start=2)
    domain_event, tracking = welcomes.convert_notifications("TrainingSchool", page)[0]
    welcomes.process_event(domain_event, tracking)
    assert welcomes.recorder.max_tracking_id("TrainingSchool") == 2
    assert welcomes.repository.get(Dog.create_id("friend of Rex")).version == 1
    with pytest.raises(retell.persistence.IntegrityError, match="processed already"):
        welcomes.process_event(domain_event, tracking)
    assert welcomes.recorder.max_notification_id() == 1  # nothing recorded the second time


def test_process_event_raises_the_policys_error_as_a_policy_error(
    school_and_welcomes: tuple[TrainingSchool, Welcomes],
) -> None:
    school, welcomes = school_and_welcomes
    school.register("Bad")
    (page,) = welcomes.pull_notifications("TrainingSchool", start=6)
    ((domain_event, tracking),) = welcomes.convert_notifications("TrainingSchool", page)
    with pytest.raises(PolicyError) as caught:
        welcomes.process_event(domain_event, tracking)
    assert caught.value.args[0] == "not welcome"
    assert welcomes.recorder.max_tracking_id("TrainingSchool") is None


# Generic subscripts


def test_classes_the_library_makes_generic_take_a_subscript() -> None:
    class School(Application[UUID]):
        pass

    class Welcoming(ProcessApplication[UUID]):
        pass

    assert type(Application[UUID]()) is Application
    assert School().repository.get  # a subclass of a subscripted class is an Application
    system = System(pipes=[[School, Welcoming]])
    for runner_class in (
        SingleThreadedRunner,
        MultiThreadedRunner,
        NewSingleThreadedRunner,
        NewMultiThreadedRunner,
    ):
        with runner_class[UUID](system) as runner:
            assert isinstance(runner, Runner) and isinstance(runner, runner_class)
            assert isinstance(runner.get(Welcoming), ProcessApplication)
    app = Application()
    assert isinstance(Repository[UUID](app.events), Repository)


# Projection runners, the library's way


class TricksView(MemoryTrackingRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.tricks: list[str] = []

    def add(self, trick: str, tracking: Tracking) -> None:
        with self._lock:
            self._check_tracking(tracking)
            self.tricks.append(trick)
            self._positions[tracking.application_name] = tracking.notification_id


class Tricks(Projection[TricksView]):
    topics = (Dog.TrickAdded,)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if domain_event.trick == "bite":
            raise ValueError("no biting")
        self.view.add(domain_event.trick, tracking)

    def reset_view(self) -> None:
        self.view.tricks.clear()


def reference_style_runner() -> ProjectionRunner[TricksView]:
    return ProjectionRunner(
        application_class=TrainingSchool, projection_class=Tricks, view_class=TricksView, env={}
    )


def test_run_forever_starts_the_runner_and_returns_after_its_timeout() -> None:
    runner = reference_style_runner()
    school: Any = runner.app
    school.register("Fido")
    school.add_trick("Fido", "sit")
    started = time.monotonic()
    runner.run_forever(timeout=0.3)
    assert 0.25 < time.monotonic() - started < 5
    runner.wait(2, timeout=5)
    assert runner.view.tricks == ["sit"]
    assert not runner.is_interrupted.is_set()
    runner.stop()
    assert runner.is_interrupted.is_set()


def test_run_forever_returns_when_stopped_from_another_thread() -> None:
    with reference_style_runner() as runner:
        threading.Timer(0.2, runner.stop).start()
        started = time.monotonic()
        runner.run_forever()
        assert time.monotonic() - started < 10
        assert runner.is_interrupted.is_set()


def test_run_forever_raises_the_error_that_stopped_the_runner() -> None:
    with reference_style_runner() as runner:
        school: Any = runner.app
        school.register("Fido")
        school.add_trick("Fido", "bite")
        with pytest.raises(ValueError, match="no biting"):
            runner.run_forever(timeout=10)
        assert runner.is_interrupted.is_set()


def test_a_wait_ends_when_the_runner_fails_meanwhile() -> None:
    with reference_style_runner() as runner:
        school: Any = runner.app
        school.register("Fido")
        threading.Timer(0.2, school.add_trick, ("Fido", "bite")).start()
        started = time.monotonic()
        with pytest.raises(RunnerError, match="no biting"):
            runner.wait(99, timeout=20)
        assert time.monotonic() - started < 10


def test_a_rebuild_does_not_interrupt_the_runner() -> None:
    with reference_style_runner() as runner:
        school: Any = runner.app
        school.register("Fido")
        school.add_trick("Fido", "sit")
        runner.wait(2, timeout=5)
        assert runner.rebuild() == 1
        assert not runner.is_interrupted.is_set()
        school.add_trick("Fido", "beg")
        runner.wait(3, timeout=5)
        assert runner.view.tricks == ["sit", "beg"]
