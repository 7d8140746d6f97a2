"""What goes wrong with a database file, and what the errors say to do about it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from retell.errors import (
    ConcurrencyError,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from retell.persistence.records import Tracking
from retell.testing.recorders import stored

from .sqlite_helpers import make_factory, raw


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    dbname.write_bytes(b"these are not the pages you are looking for " * 100)
    with pytest.raises(DatabaseError, match=r"is not an SQLite database.*check SQLITE_DBNAME"):
        make_factory(dbname).application_recorder()


def test_a_corrupt_database(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    recorder = make_factory(dbname).application_recorder()
    recorder.insert_events([stored(uuid4(), v) for v in range(1, 200)])
    recorder.close()
    raw(dbname, "PRAGMA wal_checkpoint(TRUNCATE)")
    with dbname.open("r+b") as file:  # scribble over every page but the header's
        file.seek(4096)
        file.write(b"\xff" * (dbname.stat().st_size - 4096))
    with pytest.raises(DatabaseError, match="is corrupt: restore it from a backup"):
        make_factory(dbname).application_recorder()


def test_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match=r"cannot open .*its directory exists"):
        make_factory(tmp_path / "nowhere" / "x.db").application_recorder()


def test_a_write_lock_held_too_long_names_the_timeout(tmp_path: Path) -> None:
    dbname = tmp_path / "x.db"
    env = {"TESTS_SQLITE_LOCK_TIMEOUT": "0.2"}
    recorder = make_factory(dbname, **env).application_recorder()
    recorder.insert_events([stored(uuid4(), 1)])
    other = sqlite3.connect(str(dbname), isolation_level=None)  # another program
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match=r"locked.*TESTS_SQLITE_LOCK_TIMEOUT=0.2"):
            recorder.insert_events([stored(uuid4(), 1)])
        assert len(recorder.select_notifications(None, 10)) == 1  # readers are not blocked
    finally:
        other.execute("ROLLBACK")
        other.close()
    recorder.insert_events([stored(uuid4(), 1)])  # and the pool's connection still works
    assert len(recorder.select_notifications(None, 10)) == 2
    recorder.close()


def test_a_conflict_names_the_aggregate_and_version(tmp_path: Path) -> None:
    recorder = make_factory(tmp_path / "x.db").application_recorder()
    a, b = uuid4(), uuid4()
    recorder.insert_events([stored(a, 1), stored(a, 2)])
    with pytest.raises(ConcurrencyError, match=f"aggregate {a} already has a version 2"):
        recorder.insert_events([stored(b, 1), stored(a, 3), stored(a, 2)])
    with pytest.raises(ConcurrencyError, match=f"aggregate {b} already has a version 1"):
        recorder.insert_events([stored(b, 1), stored(b, 1)])
    recorder.close()


def test_a_processed_position_names_the_last_one(tmp_path: Path) -> None:
    recorder = make_factory(tmp_path / "x.db").tracking_recorder()
    recorder.insert_tracking(Tracking("Leader", 5))
    with pytest.raises(IntegrityError, match=r"position 4 of 'Leader'.*\(5\)"):
        recorder.insert_tracking(Tracking("Leader", 4))
    recorder.close()


@pytest.mark.parametrize("dbname", ["file", ":memory:"])
def test_a_closed_recorder_says_so(tmp_path: Path, dbname: str) -> None:
    factory = make_factory(tmp_path / "x.db" if dbname == "file" else dbname)
    events, snapshots = factory.application_recorder(), factory.aggregate_recorder("snapshots")
    events.insert_events([stored(uuid4(), 1)])
    events.close()
    assert snapshots.select_events(uuid4()) == []  # still open: the database is shared
    snapshots.close()
    with pytest.raises(InterfaceError, match="was closed"):
        events.select_events(uuid4())
    with pytest.raises(InterfaceError, match="was closed"):
        events.insert_events([stored(uuid4(), 1)])
    fresh = factory.application_recorder()  # the factory opens the database again
    kept = 1 if dbname == "file" else 0  # a closed in-memory database is gone
    assert len(fresh.select_notifications(None, 10)) == kept
    factory.close()
    with pytest.raises(InterfaceError, match="was closed"):
        fresh.max_notification_id()
