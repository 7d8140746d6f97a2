"""Aggregate ids that are strs ("dog-fido") beside UUIDs, on the memory, SQLite and
PostgreSQL stores (the Django store's are in tests/django/test_django_str_ids.py)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime
from functools import singledispatchmethod
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import msgspec
import pytest

from retell import Aggregate, AggregateNotFound, Application, event
from retell.domain.events import DomainEvent
from retell.errors import ConfigurationError, DataError, ProgrammingError, RetellError
from retell.interface import NotificationLogJSONClient, NotificationLogJSONService
from retell.memory import MemoryTrackingRecorder
from retell.persistence.mapper import Mapper
from retell.persistence.records import StoredEvent, Tracking
from retell.persistence.transcoder import Transcoder
from retell.projection import Projection, ProjectionRunner
from retell.system import ProcessApplication, ProcessingEvent, SingleThreadedRunner, System
from retell.topics import get_topic


class Dog(Aggregate):
    """Ids are stream names: create_id returns a str."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @staticmethod
    def create_id(name: str) -> str:
        return f"dog-{name}"

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class Cat(Aggregate):
    """Ids given by the creating call (`id=`)."""

    @event("Adopted")
    def __init__(self, id: str, name: str) -> None:
        self.name = name


class Kennel(Application):
    snapshotting_intervals = {Dog: 2}

    def register(self, name: str) -> str:
        dog = Dog(name)
        self.save(dog)
        return dog.id  # type: ignore[return-value]

    def add_trick(self, name: str, trick: str) -> None:
        dog: Dog = self.repository.get(Dog.create_id(name))
        dog.add_trick(trick)
        self.save(dog)


def text_ids(env: dict[str, str], **more: str) -> dict[str, str]:
    return {**env, "ORIGINATOR_ID_TYPE": "text", **more}


def fido(app: Kennel) -> None:
    app.register("fido")
    app.add_trick("fido", "sit")
    app.add_trick("fido", "roll")


# Saving and reading back


def test_str_ids_are_saved_and_read_back(store_env: dict[str, str]) -> None:
    app = Kennel(env=text_ids(store_env))
    try:
        fido(app)
        app.save(Cat(id="cat-tom", name="Tom"))
        dog = app.repository.get("dog-fido")
        assert (dog.id, dog.version, dog.tricks) == ("dog-fido", 3, ["sit", "roll"])
        assert type(dog.id) is str
        assert app.repository.get("dog-fido", version=2).tricks == ["sit"]
        assert app.repository.get("cat-tom").name == "Tom"
        assert "dog-fido" in app.repository and "cat-tom" in app.repository
        assert "dog-rex" not in app.repository
        with pytest.raises(AggregateNotFound, match="dog-rex"):
            app.repository.get("dog-rex")
        events = app.events.get("dog-fido")
        assert [type(e.originator_id) for e in events] == [str, str, str]
    finally:
        app.close()


def test_snapshots_of_aggregates_with_str_ids(store_env: dict[str, str]) -> None:
    app = Kennel(env=text_ids(store_env))
    try:
        fido(app)  # version 3: a snapshot was taken at 2
        assert app.snapshots is not None
        (snapshot,) = app.snapshots.get("dog-fido", desc=True, limit=1)
        assert (snapshot.originator_id, snapshot.originator_version) == ("dog-fido", 2)
        app.take_snapshot("dog-fido")
        (latest,) = app.snapshots.recorder.select_events("dog-fido", desc=True, limit=1)
        assert (latest.originator_id, latest.originator_version) == ("dog-fido", 3)
        app.add_trick("fido", "beg")
        dog = app.repository.get("dog-fido")  # from the snapshot, then one event
        assert (dog.id, dog.version, dog.tricks) == ("dog-fido", 4, ["sit", "roll", "beg"])
        assert app.repository.get("dog-fido", version=3).tricks == ["sit", "roll"]
    finally:
        app.close()


def test_the_cache_keeps_aggregates_with_str_ids(store_env: dict[str, str]) -> None:
    app = Kennel(env=text_ids(store_env, AGGREGATE_CACHE_MAXSIZE="10"))
    if store_env["PERSISTENCE_MODULE"] == "retell.memory":  # nothing shared: use the recorder
        other = Kennel(env=text_ids(store_env))
        other.recorder = other.events.recorder = app.recorder
    else:
        other = Kennel(env=text_ids(store_env))
    try:
        fido(app)
        assert app.repository.cache is not None
        assert app.repository.cache.get("dog-fido").version == 3
        other.add_trick("fido", "beg")  # another writer: the cached one is fast-forwarded
        assert app.repository.get("dog-fido").tricks == ["sit", "roll", "beg"]
        assert app.repository.cache.get("dog-fido").version == 4
        assert "dog-fido" in app.repository
    finally:
        app.close()
        other.close()


def test_the_notification_log_gives_str_ids(store_env: dict[str, str]) -> None:
    app = Kennel(env=text_ids(store_env))
    try:
        fido(app)
        app.save(Cat(id="cat-tom", name="Tom"))
        items = app.notification_log["1,10"].items
        assert [(n.originator_id, n.originator_version) for n in items] == [
            ("dog-fido", 1),
            ("dog-fido", 2),
            ("dog-fido", 3),
            ("cat-tom", 1),
        ]
        assert {type(n.originator_id) for n in app.recorder.select_notifications(None, 10)} == {str}
        cats = app.notification_log.select(1, 10, topics=[get_topic(Cat.Adopted)])
        assert [n.originator_id for n in cats] == ["cat-tom"]
        served = NotificationLogJSONClient(NotificationLogJSONService(app))
        assert [n.originator_id for n in served["1,10"].items] == [n.originator_id for n in items]
    finally:
        app.close()


# Process applications and projections


class Tally(ProcessApplication):
    """Counts the tricks of each dog in counters of its own, with ids made from the dog's."""

    @singledispatchmethod
    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        pass

    @policy.register
    def _(self, domain_event: Dog.TrickAdded, processing_event: ProcessingEvent) -> None:
        counter_id = TrickCounter.create_id(domain_event.originator_id)
        try:
            counter = self.repository.get(counter_id)
        except AggregateNotFound:
            counter = TrickCounter(domain_event.originator_id)
        counter.increment()
        processing_event.collect_events(counter)

    def count(self, dog_id: str) -> int:
        try:
            counter: TrickCounter = self.repository.get(TrickCounter.create_id(dog_id))
        except AggregateNotFound:
            return 0
        return counter.count


class TrickCounter(Aggregate):
    @event("Started")
    def __init__(self, dog_id: str) -> None:
        self.dog_id = dog_id
        self.count = 0

    @staticmethod
    def create_id(dog_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tricks/{dog_id}")

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


def test_a_process_application_follows_a_leader_with_str_ids(store_env: dict[str, str]) -> None:
    """The leader's ids are strs (KENNEL_ORIGINATOR_ID_TYPE=text); the follower's are
    UUIDs, made from the leader's str ids: the setting is per application."""
    env = {**store_env, "KENNEL_ORIGINATOR_ID_TYPE": "text"}
    runner = SingleThreadedRunner(System(pipes=[[Kennel, Tally]]), env=env)
    runner.start()
    try:
        kennel, tally = runner.get(Kennel), runner.get(Tally)
        fido(kennel)
        kennel.add_trick("fido", "beg")
        kennel.register("rex")
        kennel.add_trick("rex", "sit")
        assert (tally.count("dog-fido"), tally.count("dog-rex")) == (3, 1)
        counter = tally.repository.get(TrickCounter.create_id("dog-fido"))
        assert counter.dog_id == "dog-fido"
        (started, *_) = tally.events.get(counter.id)
        assert started.causation_id == "dog-fido/2"  # the upstream event's identity
        last = kennel.recorder.max_notification_id()
        assert tally.recorder.max_tracking_id("Kennel") == last
    finally:
        runner.stop()


class TrickCountsView(MemoryTrackingRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def add_trick(self, dog_id: str, tracking: Tracking) -> None:
        with self._lock:
            self._check_tracking(tracking)
            self.counts[dog_id] += 1
            self._positions[tracking.application_name] = tracking.notification_id


class TrickCounts(Projection[TrickCountsView]):
    topics = (Dog.TrickAdded,)

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        assert isinstance(domain_event.originator_id, str)
        self.view.add_trick(domain_event.originator_id, tracking)


def test_a_projection_of_events_with_str_ids(store_env: dict[str, str]) -> None:
    env = text_ids(store_env, TRICKCOUNTS_PERSISTENCE_MODULE="retell.memory")  # the view's store
    with ProjectionRunner(Kennel, TrickCounts, TrickCountsView, env=env) as runner:
        kennel: Any = runner.app
        fido(kennel)
        kennel.register("rex")
        kennel.add_trick("rex", "sit")
        runner.wait(kennel.recorder.max_notification_id(), timeout=10)
        assert runner.view.counts == {"dog-fido": 2, "dog-rex": 1}


# Ids of the wrong type


def test_a_str_id_in_a_store_of_uuids_is_refused_and_nothing_is_written(
    shared_store_env: dict[str, str],
) -> None:
    app = Kennel(env=shared_store_env)  # ORIGINATOR_ID_TYPE=uuid, the default
    try:
        app.save(Cat(id=str(uuid4()), name="before"))  # a str, even if it reads as a UUID
    except DataError as error:
        assert "ORIGINATOR_ID_TYPE=text" in str(error)
    else:
        raise AssertionError("a str id was saved to a store of UUIDs")
    try:
        good = Cat._create(Cat.Adopted, id=uuid4(), name="Tom")
        with pytest.raises(DataError, match=r"'dog-fido' is a str.*set ORIGINATOR_ID_TYPE=text"):
            app.save(good, Dog("fido"))
        assert app.recorder.max_notification_id() is None  # the good one was not written
        assert good.id not in app.repository
        with pytest.raises(DataError, match="ORIGINATOR_ID_TYPE"):
            app.repository.get("dog-fido")
        with pytest.raises(DataError, match="ORIGINATOR_ID_TYPE"):
            assert "dog-fido" in app.repository
    finally:
        app.close()


def test_a_uuid_in_a_store_of_str_ids_is_refused_and_nothing_is_written(
    shared_store_env: dict[str, str],
) -> None:
    app = Kennel(env={**shared_store_env, "KENNEL_ORIGINATOR_ID_TYPE": "text"})
    try:
        cat = Cat._create(Cat.Adopted, id=uuid4(), name="Tom")
        match = r"is a UUID, but this store keeps str ids \(KENNEL_ORIGINATOR_ID_TYPE=text\)"
        with pytest.raises(DataError, match=match):
            app.save(Dog("fido"), cat)
        assert app.recorder.max_notification_id() is None
        assert "dog-fido" not in app.repository
        with pytest.raises(DataError, match="KENNEL_ORIGINATOR_ID_TYPE"):
            app.repository.get(cat.id)
    finally:
        app.close()


def test_a_table_made_for_the_other_type_of_id_is_refused(shared_store_env: dict[str, str]) -> None:
    Kennel(env=shared_store_env).close()  # its tables are made for UUIDs
    with pytest.raises(ProgrammingError, match=r"made for uuid ids.*ORIGINATOR_ID_TYPE=text\."):
        Kennel(env=text_ids(shared_store_env))
    Application(env=text_ids(shared_store_env)).close()  # another application's: made for strs
    match = r"made for text ids.*ORIGINATOR_ID_TYPE=uuid\. Set ORIGINATOR_ID_TYPE=text"
    with pytest.raises(ProgrammingError, match=match):
        Application(env=shared_store_env)


@pytest.mark.parametrize("module", ["retell.sqlite", "retell.postgres"])
def test_a_bad_id_type_is_a_configuration_error_naming_the_key(module: str) -> None:
    env = {"PERSISTENCE_MODULE": module, "SQLITE_DBNAME": ":memory:", "POSTGRES_DBNAME": "x"}
    with pytest.raises(ConfigurationError, match=r"ORIGINATOR_ID_TYPE='str' is not an id type"):
        Kennel(env={**env, "ORIGINATOR_ID_TYPE": "str"})
    with pytest.raises(ConfigurationError, match="KENNEL_ORIGINATOR_ID_TYPE='UUIDs'"):
        Kennel(env={**env, "KENNEL_ORIGINATOR_ID_TYPE": "UUIDs"})
    app = Kennel(env={**env, "ORIGINATOR_ID_TYPE": " Text ", "PERSISTENCE_MODULE": "retell.sqlite"})
    app.save(Dog("fido"))  # case and spaces do not matter
    app.close()


def test_the_sqlite_columns_hold_16_bytes_or_the_text(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    env = {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": path}
    with Application(env=env) as uuids, Kennel(env=text_ids(env)) as strs:
        dog_id = uuid4()
        uuids.save(Cat._create(Cat.Adopted, id=dog_id, name="Tom"))
        strs.save(Dog("fido"))
    with sqlite3.connect(path) as connection:
        ((blob,),) = connection.execute("SELECT originator_id FROM application_events")
        ((text,),) = connection.execute("SELECT originator_id FROM kennel_events")
    assert (blob, text) == (dog_id.bytes, "dog-fido")


# The memory store, and the transcoder


def test_the_memory_store_takes_both_types_of_id_without_a_setting() -> None:
    app = Kennel()
    uuid = uuid4()
    app.save(Dog("fido"), Cat._create(Cat.Adopted, id=uuid, name="Tom"))
    app.save(Cat(id=str(uuid), name="Tim"))  # the UUID's text: another aggregate
    assert app.repository.get(uuid).name == "Tom"
    assert app.repository.get(str(uuid)).name == "Tim"
    assert app.repository.get("dog-fido").version == 1
    assert [type(n.originator_id) for n in app.recorder.select_notifications(None, 5)] == [
        str,
        UUID,
        str,
    ]
    with pytest.raises(RetellError, match="ids are UUIDs or strs, not int"):
        app.repository.get(7)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="ids are UUIDs or strs, not int"):
        app.recorder.insert_events([StoredEvent(7, 1, "t", b"{}")])  # type: ignore[arg-type]


def test_ids_that_are_subclasses_are_kept_as_plain_strs_and_uuids() -> None:
    class Name(str):
        pass

    class Id(UUID):
        pass

    named = Cat(id=Name("cat-tom"), name="Tom")
    numbered = Cat(id=Id(int=7), name="Tim")
    assert (type(named.id), type(numbered.id)) == (str, UUID)
    assert numbered.id == UUID(int=7)


@pytest.mark.parametrize("dog_id", ["dog-fido", UUID("5f0c1f8e-2a4b-4f3e-9d55-0a6b1c2d3e4f")])
def test_both_types_of_id_take_the_transcoders_fast_path(
    dog_id: UUID | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id of either type fits the id's annotation: no tagged value (nor TRANSCODER_STRICT's
    refusal), and decoded by msgspec's own decoder, with the record's id set on the event."""
    dog = Dog._create(Dog.Registered, id=dog_id, name="fido")
    dog.add_trick("sit")
    events = dog.collect_events()
    for strict in (False, True):
        mapper = Mapper(Transcoder(strict=strict))
        stored = [mapper.to_stored_event(e) for e in events]
        for record in stored:
            assert b'"__o"' not in record.state and b'"__t"' not in record.state
            assert record.state.startswith(b'{"originator_id":"%s",' % str(dog_id).encode())
        mapper.to_domain_events(stored)  # the decoders are made, carefully, once

        def careful(stored: StoredEvent) -> DomainEvent:
            raise AssertionError("not the fast path")

        monkeypatch.setattr(mapper, "_decode_carefully", careful)
        decoded = mapper.to_domain_events(stored)
        assert decoded == events
        assert [type(e.originator_id) for e in decoded] == [type(dog_id)] * 2


def test_the_record_says_whether_an_id_is_a_uuid_or_its_text() -> None:
    """The state's JSON holds the same text for a UUID and for a str of that text: the
    record's id, as the store keeps it, decides; the transcoder alone reads the text
    of a UUID as a UUID."""
    uuid, now = uuid4(), datetime.now(UTC)
    mapper = Mapper(Transcoder())
    as_uuid = Cat._create(Cat.Adopted, id=uuid, timestamp=now, name="Tom").collect_events()[0]
    as_str = Cat._create(Cat.Adopted, id=str(uuid), timestamp=now, name="Tom").collect_events()[0]
    stored_uuid, stored_str = mapper.to_stored_event(as_uuid), mapper.to_stored_event(as_str)
    assert msgspec.json.decode(stored_uuid.state) == msgspec.json.decode(stored_str.state)
    assert mapper.to_domain_events([stored_uuid, stored_str]) == [as_uuid, as_str]
    assert mapper.transcoder.decode(Cat.Adopted, stored_uuid.state) == as_uuid
    assert mapper.transcoder.decode(Cat.Adopted, stored_str.state).originator_id == uuid


def test_postgres_keeps_str_ids_in_a_text_column_compared_exactly(
    postgres_store_env: dict[str, str],
) -> None:
    with Kennel(env=text_ids(postgres_store_env)) as app:
        app.save(Dog("Fido"), Dog("fido"))
        assert app.repository.get("dog-Fido").name == "Fido"
        assert app.repository.get("dog-fido").name == "fido"
    import psycopg

    from tests.postgres.helpers import ADMIN_CONNINFO

    with psycopg.connect(ADMIN_CONNINFO) as connection:
        rows = connection.execute(
            "SELECT table_name, data_type, collation_name FROM information_schema.columns "
            "WHERE table_schema = %s AND column_name = 'originator_id' ORDER BY table_name",
            (postgres_store_env["POSTGRES_SCHEMA"],),
        ).fetchall()
    assert rows == [("kennel_events", "text", "C"), ("kennel_snapshots", "text", "C")]


def test_postgres_finds_a_save_of_str_ids_whose_answer_was_lost(
    postgres_store_env: dict[str, str],
) -> None:
    """After a lost connection, the store asks whether the save was recorded: by str id."""
    import psycopg

    from retell.postgres import protocol
    from retell.postgres.protocol import NotificationLog
    from tests.postgres.helpers import ADMIN_CONNINFO

    with Kennel(env=text_ids(postgres_store_env)) as app:
        dog = Dog("fido")
        dog.add_trick("sit")
        stored = [app.mapper.to_stored_event(e) for e in dog.collect_events()]
        ids = app.recorder.insert_events(stored)
        log = NotificationLog(app.factory.tables, None, "text")  # type: ignore[attr-defined]
        other = [StoredEvent("dog-rex", 1, stored[0].topic, stored[0].state)]
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
            cursor = connection.cursor()
            assert protocol.recorded_notifications(cursor, log, stored) == list(ids)
            assert protocol.recorded_notifications(cursor, log, other) is None
