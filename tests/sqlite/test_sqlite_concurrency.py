"""Several processes on one file, forked processes, threads on one in-memory database."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

from retell.persistence.records import Notification
from retell.sqlite import SQLiteApplicationRecorder
from retell.testing.recorders import stored

from .sqlite_helpers import make_factory, raw, write_in_process

WRITERS = 3
SAVES = 150


def tail(recorder: SQLiteApplicationRecorder, finished: Callable[[], bool]) -> list[Notification]:
    """Read the log page after page until `finished()` and nothing more is there."""
    seen: list[Notification] = []
    last = 0
    while True:
        done = finished()
        page = recorder.select_notifications(last + 1, 100)
        for notification in page:
            assert notification.id > last, "positions went backwards"
            last = notification.id
        seen.extend(page)
        if done and not page:
            return seen
        if not page:
            time.sleep(0.001)


def test_processes_writing_one_file_while_a_reader_tails_the_log(tmp_path: Path) -> None:
    """The log property across processes: the tail sees the final log, in order, no gaps.

    Every save's two events also sit side by side in the log: a save takes its ids
    all at once, under the write lock.
    """
    dbname = str(tmp_path / "x.db")
    recorder = make_factory(dbname).application_recorder()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS + 1)
    writers = [
        context.Process(target=write_in_process, args=(dbname, SAVES, start, f"writer:{i}"))
        for i in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    start.wait(timeout=30)
    try:
        seen = tail(recorder, lambda: not any(w.is_alive() for w in writers))
    finally:
        for writer in writers:
            writer.join(timeout=30)
    assert [w.exitcode for w in writers] == [0] * WRITERS
    final = recorder.select_notifications(None, 10_000)
    assert [n.id for n in seen] == [n.id for n in final]
    assert len(final) == WRITERS * SAVES * 2
    assert [n.id for n in final] == list(range(1, len(final) + 1))  # no gaps either
    for first, second in zip(final[::2], final[1::2], strict=True):
        assert (first.originator_id, first.originator_version) == (second.originator_id, 1)
        assert second.originator_version == 2
    switches = sum(a.topic != b.topic for a, b in itertools.pairwise(final))
    assert switches > WRITERS * 5, "the writers did not write at the same time"
    recorder.close()


def _save_in_forked_child(recorder: SQLiteApplicationRecorder, inherited: set[int]) -> None:
    recorder.insert_events([stored(uuid4(), 1), stored(uuid4(), 1)])
    pool = {id(connection) for connection in recorder.database._idle}
    assert not pool & inherited, "the child used connections it inherited"


def test_a_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    """SQLite forbids using a connection in a child process: it must open its own."""
    recorder = make_factory(tmp_path / "x.db").application_recorder()
    recorder.insert_events([stored(uuid4(), 1)])  # the parent has used its connections
    inherited = {id(connection) for connection in recorder.database._idle}
    child = multiprocessing.get_context("fork").Process(
        target=_save_in_forked_child, args=(recorder, inherited)
    )
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    recorder.insert_events([stored(uuid4(), 1)])  # the parent's connections still work
    assert [n.id for n in recorder.select_notifications(None, 10)] == [1, 2, 3, 4]
    recorder.close()


def test_recorders_of_one_factory_share_one_in_memory_database() -> None:
    factory = make_factory(":memory:")
    writer, reader = factory.application_recorder(), factory.application_recorder()
    other = make_factory(":memory:").application_recorder()
    a = uuid4()
    threads = [
        threading.Thread(target=writer.insert_events, args=([stored(a, v)],)) for v in range(1, 21)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.originator_version for e in reader.select_events(a)] == list(range(1, 21))
    assert other.select_events(a) == []  # another factory, another database
    for recorder in (writer, reader, other):
        recorder.close()


def test_a_deleted_newest_event_leaves_its_id_unused(tmp_path: Path) -> None:
    """A reader that has seen position 3 must never find a new event at 3."""
    dbname = tmp_path / "x.db"
    recorder = make_factory(dbname).application_recorder()
    a = uuid4()
    assert list(recorder.insert_events([stored(a, 1), stored(a, 2), stored(a, 3)])) == [1, 2, 3]
    raw(dbname, "DELETE FROM tests_events WHERE notification_id = 3")
    assert list(recorder.insert_events([stored(a, 3)])) == [4]
    recorder.close()


def test_leases_are_shared_by_the_processes_of_a_file(tmp_path: Path) -> None:
    first, second = make_factory(tmp_path / "x.db"), make_factory(tmp_path / "x.db")
    lease = first.lease("retell-follower:Counters")
    assert lease.acquire()
    assert not second.lease("retell-follower:Counters").acquire()  # as another process would
    assert second.lease("retell-follower:Tally").acquire()
    lease.release()
    again = second.lease("retell-follower:Counters")
    assert again.acquire()
    again.release()
