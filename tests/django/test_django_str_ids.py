"""Str ids ("dog-fido") on the Django store: SQLite, PostgreSQL (and MariaDB) aliases.

The id column is text for every application; each application's ORIGINATOR_ID_TYPE
says whether its ids are UUIDs or strs. The scenarios are tests/test_str_ids.py's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from retell import AggregateNotFound, Application
from retell.django.models import EventRecord
from retell.errors import ConfigurationError, DataError, ProgrammingError
from retell.persistence.mapper import Mapper
from retell.persistence.transcoder import Transcoder
from retell.projection import ProjectionRunner
from retell.system import SingleThreadedRunner, System
from tests.django import services
from tests.django.helpers import env
from tests.test_str_ids import (
    Cat,
    Dog,
    Kennel,
    Tally,
    TrickCounter,
    TrickCounts,
    TrickCountsView,
    fido,
)

ALIASES = [
    "default",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    services.prepare(name)
    return name


def named(cls: type[Any], prefix: str) -> Any:
    """`cls` under a name of its own: its records start empty in the shared tables."""
    return type(cls.__name__, (cls,), {"name": f"{prefix}{uuid4().hex[:10]}"})


def text_kennel(alias: str, **more: str) -> Kennel:
    kennel: Kennel = named(Kennel, "Kennel")(env=env(alias, ORIGINATOR_ID_TYPE="text", **more))
    return kennel


def test_str_ids_are_saved_and_read_back(alias: str) -> None:
    app = text_kennel(alias, AGGREGATE_CACHE_MAXSIZE="10")
    fido(app)
    app.save(Cat(id="cat-tom", name="Tom"))
    dog = app.repository.get("dog-fido")
    assert (dog.id, dog.version, dog.tricks) == ("dog-fido", 3, ["sit", "roll"])
    assert app.repository.get("dog-fido", version=2).tricks == ["sit"]
    assert "cat-tom" in app.repository and "dog-rex" not in app.repository
    with pytest.raises(AggregateNotFound):
        app.repository.get("dog-rex")
    assert app.repository.cache is not None and app.repository.cache.get("dog-fido").version == 3
    assert app.snapshots is not None
    (snapshot,) = app.snapshots.get("dog-fido", desc=True, limit=1)
    assert (snapshot.originator_id, snapshot.originator_version) == ("dog-fido", 2)
    items = app.notification_log["1,10"].items
    assert [n.originator_id for n in items] == ["dog-fido"] * 3 + ["cat-tom"]
    assert all(type(n.originator_id) is str for n in items)


def test_applications_of_both_id_types_share_the_tables(alias: str) -> None:
    uuids: Application = named(Application, "Uuids")(env=env(alias))
    strs: Application = named(Application, "Strs")(env=env(alias, ORIGINATOR_ID_TYPE="text"))
    tom = Cat._create(Cat.Adopted, id=uuid4(), name="Tom")
    uuids.save(tom)
    strs.save(Cat(id=str(tom.id), name="Tim"))  # the same text, another application's str
    assert uuids.repository.get(tom.id).name == "Tom"
    assert strs.repository.get(str(tom.id)).name == "Tim"
    (uuid_log,) = uuids.recorder.select_notifications(None, 10)
    (str_log,) = strs.recorder.select_notifications(None, 10)
    assert (uuid_log.originator_id, str_log.originator_id) == (tom.id, str(tom.id))
    stored = EventRecord.objects.using(alias).filter(application_name=uuids.name).get()
    assert stored.originator_id == str(tom.id)  # a UUID is kept as its canonical text


def test_ids_are_compared_exactly(alias: str) -> None:
    app = text_kennel(alias)
    app.save(Dog("Fido"), Dog("fido"), Dog("fidö"))
    assert [app.repository.get(f"dog-{n}").name for n in ("Fido", "fido", "fidö")] == [
        "Fido",
        "fido",
        "fidö",
    ]


def test_ids_of_the_wrong_type_are_refused_and_nothing_is_written(alias: str) -> None:
    uuids: Kennel = named(Kennel, "Kennel")(env=env(alias))
    with transaction.atomic(using=alias):  # the caller's transaction stays usable
        with pytest.raises(DataError, match=r"'dog-fido' is a str.*ORIGINATOR_ID_TYPE=text"):
            uuids.save(Cat._create(Cat.Adopted, id=uuid4(), name="Tom"), Dog("fido"))
        assert uuids.recorder.max_notification_id() is None
    with pytest.raises(DataError, match="ORIGINATOR_ID_TYPE"):
        uuids.repository.get("dog-fido")
    strs = text_kennel(alias)
    prefixed = f"{strs.name.upper()}_ORIGINATOR_ID_TYPE"
    with pytest.raises(DataError, match=r"is a UUID, but this store keeps str ids"):
        strs.save(Dog("fido"), Cat._create(Cat.Adopted, id=uuid4(), name="Tom"))
    assert strs.recorder.max_notification_id() is None
    with pytest.raises(DataError, match=r"keeps str ids \(ORIGINATOR_ID_TYPE=text\)"):
        strs.repository.get(uuid4())
    with pytest.raises(DataError, match="ids of up to 255"):
        strs.save(Cat(id="x" * 256, name="Long"))
    with pytest.raises(ConfigurationError, match=f"{prefixed}='uuids' is not an id type"):
        type(strs)(env=env(alias, **{prefixed: "uuids"}))


def test_a_follower_and_a_projection_of_a_leader_with_str_ids(alias: str) -> None:
    leader, follower = named(Kennel, "Kennel"), named(Tally, "Tally")
    key = f"{leader.name.upper()}_ORIGINATOR_ID_TYPE"
    runner = SingleThreadedRunner(
        System(pipes=[[leader, follower]]), env=env(alias, **{key: "text"})
    )
    runner.start()
    try:
        kennel, tally = runner.get(leader), runner.get(follower)
        fido(kennel)
        kennel.register("rex")
        kennel.add_trick("rex", "sit")
        assert (tally.count("dog-fido"), tally.count("dog-rex")) == (2, 1)
        assert isinstance(tally.repository.get(TrickCounter.create_id("dog-rex")).id, UUID)
    finally:
        runner.stop()
    view_env = env(alias, **{key: "text", "TRICKCOUNTS_PERSISTENCE_MODULE": "retell.memory"})
    with ProjectionRunner(leader, TrickCounts, TrickCountsView, env=view_env) as projection:
        projection.wait(projection.app.recorder.max_notification_id(), timeout=10)
        assert projection.view.counts == {"dog-fido": 2, "dog-rex": 1}


@pytest.mark.postgres
def test_postgres_keeps_ids_as_text_collated_c() -> None:
    services.prepare("postgres")
    with connections["postgres"].cursor() as cursor:
        cursor.execute(
            "SELECT table_name, data_type, collation_name FROM information_schema.columns "
            "WHERE table_name IN ('retell_events', 'retell_snapshots') "
            "AND column_name = 'originator_id' ORDER BY table_name"
        )
        rows = cursor.fetchall()
    assert rows == [
        ("retell_events", "character varying", "C"),
        ("retell_snapshots", "character varying", "C"),
    ]


# The migration that made the column text


def test_migration_0002_keeps_uuids_as_canonical_text_and_reverses(unmigrated: str) -> None:
    call_command("migrate", "retell", "0001", database=unmigrated, verbosity=0)
    tom = Cat._create(Cat.Adopted, id=uuid4(), name="Tom")
    stored = Mapper(Transcoder()).to_stored_event(tom.collect_events()[0])
    with connections[unmigrated].cursor() as cursor:  # as Django's UUIDField kept it
        cursor.execute(
            "INSERT INTO retell_events "
            "(application_name, originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s, %s)",
            ["Cats", tom.id.hex, 1, stored.topic, stored.state],
        )
    cats: Application = type("Cats", (Application,), {})(env=env(unmigrated))
    with pytest.raises(ProgrammingError, match=r"0002_text_originator_ids.*migrate"):
        cats.repository.get(tom.id)  # the 32 digits would not be found: refused
    call_command("migrate", "retell", "0002", database=unmigrated, verbosity=0)
    record = EventRecord.objects.using(unmigrated).get()
    assert record.originator_id == str(tom.id)
    assert cats.repository.get(tom.id).name == "Tom"
    strs: Application = type("Strs", (Application,), {})(
        env=env(unmigrated, ORIGINATOR_ID_TYPE="text")
    )
    strs.save(Cat(id="cat-tim", name="Tim"))
    with pytest.raises(RuntimeError, match="'cat-tim' of the application 'Strs'"):
        call_command("migrate", "retell", "0001", database=unmigrated, verbosity=0)
    EventRecord.objects.using(unmigrated).filter(application_name="Strs").delete()
    call_command("migrate", "retell", "0001", database=unmigrated, verbosity=0)
    with connections[unmigrated].cursor() as cursor:
        cursor.execute("SELECT originator_id FROM retell_events")
        assert cursor.fetchall() == [(tom.id.hex,)]
