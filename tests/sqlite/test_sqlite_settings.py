"""Settings, table names, table creation and schema versions of the SQLite store."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from retell.config import Environment
from retell.errors import ConfigurationError, NotSupportedError, ProgrammingError
from retell.sqlite import SCHEMA_VERSION, Factory, TableNames, schema_version
from retell.testing.recorders import stored

from .sqlite_helpers import make_factory, raw


def tables(dbname: Path) -> list[str]:
    rows = raw(dbname, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows if not name.startswith("sqlite_")]


def test_missing_dbname_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match=r"SQLITE_DBNAME.*:memory:"):
        Factory(Environment("Tests", {"PERSISTENCE_MODULE": "retell.sqlite"}))


def test_the_prefixed_key_wins(tmp_path: Path) -> None:
    env = {"DOGSCHOOL_SQLITE_DBNAME": str(tmp_path / "mine.db"), "SQLITE_DBNAME": "other.db"}
    factory = Factory(Environment("DogSchool", env))
    assert factory.settings.dbname == str(tmp_path / "mine.db")


def test_a_relative_path_is_fixed_when_the_factory_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    factory = make_factory("relative.db")
    monkeypatch.chdir("/")
    factory.application_recorder().close()
    assert (tmp_path / "relative.db").exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SQLITE_LOCK_TIMEOUT", "soon", "SQLITE_LOCK_TIMEOUT='soon' is not a number"),
        ("SQLITE_LOCK_TIMEOUT", "-1", "too small"),
        ("SQLITE_SYNCHRONOUS", "EXTRA", "use NORMAL .* or FULL"),
        ("CREATE_TABLE", "maybe", "not a yes/no value"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_factory(tmp_path / "x.db", **{key: value})


def test_tables_are_named_after_the_application() -> None:
    names = TableNames.for_application("DogSchool")
    assert names == TableNames("dogschool_events", "dogschool_snapshots", "dogschool_tracking")


@pytest.mark.parametrize(
    "name", ["Dog School", "1st", "sqlite_things", "x; DROP TABLE y", "Ünïcode", "a-b", ""]
)
def test_names_that_cannot_name_tables_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot name SQLite tables"):
        make_factory(tmp_path / "x.db", name=name)


def test_tables_are_made_once_with_their_schema_version(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    for _ in range(2):  # a second factory finds them made, and changes nothing
        factory = make_factory(dbname, name="DogSchool")
        recorders = [
            factory.process_recorder(),
            factory.aggregate_recorder("snapshots"),
            factory.application_recorder(),
        ]
        for recorder in recorders:
            recorder.close()
    assert tables(dbname) == [
        "dogschool_events",
        "dogschool_snapshots",
        "dogschool_tracking",
        "retell_schema_versions",
    ]
    versions = raw(dbname, "SELECT table_name, version FROM retell_schema_versions")
    assert sorted(versions) == [
        ("dogschool_events", SCHEMA_VERSION),
        ("dogschool_snapshots", SCHEMA_VERSION),
        ("dogschool_tracking", SCHEMA_VERSION),
    ]


def test_create_table_n_needs_the_tables_and_names_the_missing_one(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    factory = make_factory(dbname, name="DogSchool", CREATE_TABLE="n")
    with pytest.raises(ProgrammingError, match=r"'dogschool_events'.*CREATE_TABLE=y"):
        factory.application_recorder()
    assert tables(dbname) == []
    make_factory(dbname, name="DogSchool").application_recorder().close()
    recorder = factory.application_recorder()  # now they exist
    recorder.insert_events([stored(uuid4(), 1)])
    with pytest.raises(ProgrammingError, match="'dogschool_tracking'"):
        factory.process_recorder()
    recorder.close()


def test_the_prefixed_create_table_key_is_named(tmp_path: Path) -> None:
    env = {"SQLITE_DBNAME": str(tmp_path / "x.db"), "DOGSCHOOL_CREATE_TABLE": "n"}
    with pytest.raises(ProgrammingError, match="DOGSCHOOL_CREATE_TABLE=y"):
        Factory(Environment("DogSchool", env)).application_recorder()


def test_a_table_dropped_later_is_a_programming_error(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    recorder = make_factory(dbname).application_recorder()
    raw(dbname, "DROP TABLE tests_events")
    with pytest.raises(ProgrammingError, match="'tests_events' does not exist"):
        recorder.select_notifications(None, 10)
    recorder.close()


def test_schema_version_is_recorded_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    factory = make_factory(dbname)
    recorder = factory.application_recorder()
    assert schema_version(recorder.database, "tests_events") == SCHEMA_VERSION
    assert schema_version(recorder.database, "nothing") is None
    recorder.close()
    raw(dbname, "UPDATE retell_schema_versions SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(NotSupportedError, match=r"newer release of retell.*upgrade retell"):
        make_factory(dbname).application_recorder()


def test_file_databases_use_wal_and_the_synchronous_setting(tmp_path: Path) -> None:
    recorder = make_factory(tmp_path / "x.db", SQLITE_SYNCHRONOUS="full").application_recorder()
    assert recorder.database.read("PRAGMA journal_mode", ()) == [("wal",)]
    assert recorder.database.read("PRAGMA synchronous", ()) == [(2,)]  # FULL
    recorder.close()
    recorder = make_factory(tmp_path / "x.db").application_recorder()
    assert recorder.database.read("PRAGMA synchronous", ()) == [(1,)]  # NORMAL, the default
    recorder.close()
