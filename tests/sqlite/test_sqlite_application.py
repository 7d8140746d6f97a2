"""Applications, systems and projections on the SQLite store, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from retell import AggregateNotFound, ConcurrencyError
from retell.errors import IntegrityError
from retell.persistence.records import Tracking
from retell.projection import ProjectionRunner
from retell.sqlite import SQLiteTrackingRecorder
from retell.system import MultiThreadedRunner, SingleThreadedRunner, System
from tests.test_projection import TrickCounts
from tests.test_system import Counters, Dog, TrainingSchool, fido

from .sqlite_helpers import raw


class DogSchool(TrainingSchool):
    snapshotting_intervals = {Dog: 2}

    def tricks(self, name: str) -> list[str]:
        dog: Any = self.repository.get(Dog.create_id(name))
        return list(dog.tricks)


def sqlite_env(dbname: str | Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "retell.sqlite", "SQLITE_DBNAME": str(dbname)}


@pytest.mark.parametrize("where", ["file", "memory"])
def test_an_application_saves_gets_snapshots_and_logs(tmp_path: Path, where: str) -> None:
    dbname = tmp_path / "dogs.db" if where == "file" else ":memory:"
    with DogSchool(env=sqlite_env(dbname)) as school:
        school.register("Fido")
        for trick in ["roll", "sit", "beg"]:
            school.add_trick("Fido", trick)
        assert school.tricks("Fido") == ["roll", "sit", "beg"]
        assert school.repository.get(fido(), version=2).tricks == ["roll"]
        assert school.snapshots is not None
        snapshots = school.snapshots.recorder.select_events(fido())
        assert [s.originator_version for s in snapshots] == [2, 4]
        section = school.notification_log["1,3"]
        assert [n.originator_version for n in section.items] == [1, 2, 3]
        assert section.next_id == "4,6"
        assert school.recorder.max_notification_id() == 4
        stale = school.repository.get(fido())
        school.add_trick("Fido", "fetch")
        stale.add_trick("play dead")
        with pytest.raises(ConcurrencyError, match=f"aggregate {fido()} already has a version 5"):
            school.save(stale)
        with pytest.raises(AggregateNotFound):
            school.repository.get(Dog.create_id("Rex"))


def test_a_file_keeps_the_events_for_the_next_application(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path / "dogs.db")
    with DogSchool(env=env) as school:
        school.register("Fido")
        school.add_trick("Fido", "roll")
    with DogSchool(env=env) as school:
        assert school.tricks("Fido") == ["roll"]
        assert fido() in school.repository
    names = raw(tmp_path / "dogs.db", "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert ("dogschool_events",) in names and ("dogschool_snapshots",) in names


def test_applications_sharing_a_file_keep_their_own_tables(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path / "both.db")

    class OtherSchool(DogSchool):
        pass

    with DogSchool(env=env) as school, OtherSchool(env=env) as other:
        school.register("Fido")
        other.register("Fido")
        other.add_trick("Fido", "sit")
        assert school.tricks("Fido") == []
        assert other.recorder.max_notification_id() == 2
        assert school.recorder.max_notification_id() == 1


@pytest.mark.parametrize("runner_class", [SingleThreadedRunner, MultiThreadedRunner])
def test_a_system_on_one_file(tmp_path: Path, runner_class: Any) -> None:
    env = sqlite_env(tmp_path / "system.db")
    system = System(pipes=[[TrainingSchool, Counters]])
    with runner_class(system, env=env) as runner:
        school = runner.get(TrainingSchool)
        school.register("Fido")
        for i in range(10):
            school.add_trick("Fido", f"trick {i}")
        counters = runner.get(Counters)
        counters.recorder.wait("TrainingSchool", 11, timeout=10)
        assert counters.count(fido()) == 10
    with runner_class(system, env=env) as runner:  # restarted: nothing is processed twice
        counters = runner.get(Counters)
        assert counters.recorder.max_tracking_id("TrainingSchool") == 11
        assert counters.count(fido()) == 10


class TrickCountsView(SQLiteTrackingRecorder):
    """The view of tests.test_projection in SQLite: tricks per dog, written with the tracking."""

    create_view_statements = (
        "CREATE TABLE IF NOT EXISTS trick_counts (dog_id BLOB PRIMARY KEY, tricks INTEGER)",
    )

    def add_trick(self, dog_id: UUID, tracking: Tracking) -> None:
        with self.transaction(tracking) as connection:
            connection.execute(
                "INSERT INTO trick_counts VALUES (?, 1) "
                "ON CONFLICT (dog_id) DO UPDATE SET tricks = tricks + 1",
                (dog_id.bytes,),
            )

    def tricks(self, dog_id: UUID) -> int:
        rows = self.database.read(
            "SELECT tricks FROM trick_counts WHERE dog_id = ?", (dog_id.bytes,)
        )
        return int(rows[0][0]) if rows else 0

    def clear(self) -> None:
        with self.transaction() as connection:
            connection.execute("DELETE FROM trick_counts")


def test_a_projection_into_an_sqlite_view(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path / "views.db")
    with ProjectionRunner(TrainingSchool, TrickCounts, TrickCountsView, env=env) as runner:
        school: Any = runner.app
        school.register("Fido")
        for trick in ["roll", "sit", "beg"]:
            school.add_trick("Fido", trick)
        runner.wait(4, timeout=5)
        assert runner.view.tricks(fido()) == 3
        with pytest.raises(IntegrityError):  # an event processed again changes nothing
            runner.view.add_trick(fido(), Tracking("TrainingSchool", 4))
        assert runner.view.tricks(fido()) == 3
        with runner.view.transaction() as connection:  # spoil the view
            connection.execute("UPDATE trick_counts SET tricks = 99")
        assert runner.rebuild() == 3
        assert runner.view.tricks(fido()) == 3
        assert runner.view.max_tracking_id("TrainingSchool") == 4
    names = raw(tmp_path / "views.db", "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert ("trickcounts_tracking",) in names and ("trick_counts",) in names
