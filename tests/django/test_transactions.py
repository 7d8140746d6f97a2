"""Saves join the caller's transaction; errors say what to do; aliases stay apart."""

from __future__ import annotations

import contextlib
import threading
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from retell import Application
from retell.django.recorders import DjangoApplicationRecorder
from retell.errors import ConcurrencyError, ProgrammingError
from retell.testing.recorders import stored
from tests.django import services
from tests.django.helpers import env
from tests.django.shop.domain import Dog, TrainingSchool
from tests.django.shop.models import Order

ALIASES = [
    "default",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


class Rollback(Exception):
    pass


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    services.prepare(name)
    return name


def new_school(alias: str) -> TrainingSchool:
    """A school with a name of its own: its log starts empty."""
    cls = type("School", (TrainingSchool,), {"name": f"School{uuid4().hex[:10]}"})
    return cls(env=env(alias))


def test_a_save_commits_with_the_callers_orm_writes(alias: str) -> None:
    app = new_school(alias)
    reference = uuid4().hex
    with transaction.atomic(using=alias):
        Order.objects.using(alias).create(reference=reference)
        app.register("Fido")
    assert Order.objects.using(alias).filter(reference=reference).exists()
    assert app.tricks("Fido") == []


def test_a_save_rolls_back_with_the_callers_orm_writes(alias: str) -> None:
    app = new_school(alias)
    reference = uuid4().hex
    with contextlib.suppress(Rollback), transaction.atomic(using=alias):
        Order.objects.using(alias).create(reference=reference)
        app.register("Fido")
        assert Dog.create_id("Fido") in app.repository  # visible inside the transaction
        raise Rollback
    assert not Order.objects.using(alias).filter(reference=reference).exists()
    assert Dog.create_id("Fido") not in app.repository
    assert app.recorder.max_notification_id() is None


def test_a_conflict_leaves_the_callers_transaction_usable(alias: str) -> None:
    app = new_school(alias)
    app.register("Fido")
    reference = uuid4().hex
    with transaction.atomic(using=alias):
        Order.objects.using(alias).create(reference=reference)
        with pytest.raises(ConcurrencyError, match=str(Dog.create_id("Fido"))):
            app.save(Dog("Fido"))  # a second "version 1"
        Order.objects.using(alias).create(reference=reference + "-2")
    assert Order.objects.using(alias).filter(reference__startswith=reference).count() == 2


def test_subscribers_are_woken_only_by_a_commit(alias: str) -> None:
    app = new_school(alias)
    woken: list[bool] = []
    app.recorder.notify_subscribers = lambda: woken.append(True)  # type: ignore[method-assign]
    with contextlib.suppress(Rollback), transaction.atomic(using=alias):
        app.register("Fido")
        raise Rollback
    assert woken == []
    with transaction.atomic(using=alias):
        app.register("Fido")
        assert woken == []
    assert woken == [True]


def test_snapshots_and_multi_event_saves(alias: str) -> None:
    app = new_school(alias)
    app.register("Fido")
    dog = app.repository.get(Dog.create_id("Fido"))
    for trick in ("sit", "roll", "beg"):
        dog.add_trick(trick)
    recordings = app.save(dog)
    ids = [r.notification_id for r in recordings]
    assert ids == sorted(ids) and len(ids) == 3
    assert app.snapshots is not None
    assert app.snapshots.recorder.select_events(dog.id, desc=True, limit=1)
    assert app.tricks("Fido") == ["sit", "roll", "beg"]


def test_before_migrate_an_error_says_to_migrate_then_migrate_works(unmigrated: str) -> None:
    app = Application(env=env(unmigrated))  # constructing needs no table
    with pytest.raises(ProgrammingError, match=r"manage\.py migrate --database=unmigrated"):
        app.recorder.max_notification_id()
    with pytest.raises(ProgrammingError, match="retell_events"):
        app.save(Dog("Fido"))
    call_command("migrate", database=unmigrated, verbosity=0)
    app.save(Dog("Fido"))
    assert app.recorder.max_notification_id() is not None


@pytest.mark.postgres
@pytest.mark.mariadb
def test_aliases_keep_their_records_apart() -> None:
    for name in ("default", "postgres", "mariadb"):
        services.prepare(name)
    cls = type("Kennel", (TrainingSchool,), {"name": f"Kennel{uuid4().hex[:10]}"})
    apps = {name: cls(env=env(name)) for name in ("default", "postgres", "mariadb")}
    apps["postgres"].register("Fido")
    apps["mariadb"].register("Rex")
    assert Dog.create_id("Fido") in apps["postgres"].repository
    assert Dog.create_id("Fido") not in apps["mariadb"].repository
    assert Dog.create_id("Rex") not in apps["default"].repository
    assert isinstance(apps["mariadb"].recorder, DjangoApplicationRecorder)
    assert apps["mariadb"].recorder.alias == "mariadb"


def test_sqlite_writers_in_the_callers_transactions_wait_instead_of_failing() -> None:
    """With transaction_mode IMMEDIATE (the 'default' alias), a transaction that reads
    first still gets the write lock: writers queue, none fails with "database is locked"."""
    services.prepare("default")
    app = new_school("default")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(15):
                with transaction.atomic(using="default"):
                    Order.objects.using("default").count()  # a read first
                    Order.objects.using("default").create(reference=f"{i}-{j}")
                    app.register(f"dog-{i}-{j}")
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(app.notification_log.select(None, 100)) == 60


@pytest.mark.parametrize(
    ("alias", "opened"),
    [("default", 1), pytest.param("postgres", 0, marks=pytest.mark.postgres)],
)
def test_a_one_statement_save_needs_no_transaction_of_its_own(
    alias: str, opened: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a save outside the caller's atomic() is one statement in autocommit:
    no BEGIN and COMMIT round trips. Inside the caller's block it joins it as before."""
    services.prepare(alias)
    recorder = DjangoApplicationRecorder(alias, f"R{uuid4().hex[:12]}")
    calls: list[object] = []
    real_atomic = transaction.atomic

    def counting_atomic(*args: object, **kwargs: object) -> object:
        calls.append(kwargs.get("using"))
        return real_atomic(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transaction, "atomic", counting_atomic)
    (position,) = recorder.insert_events([stored(uuid4(), 1)])
    assert len(calls) == opened
    assert [n.id for n in recorder.select_notifications(None, 10)] == [position]
    with real_atomic(using=alias):
        recorder.insert_events([stored(uuid4(), 1)])
    assert len(calls) == opened + 1, "inside the caller's block, the save joins it"
