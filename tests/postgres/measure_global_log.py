"""Measure how fast writers commit under each way of keeping a trustworthy global log.

    .venv/bin/python -m tests.postgres.measure_global_log [--seconds 5] [--writers 1,4,8]

Not a test (pytest does not collect it): the figures of docs/global-log.md come from
it. Each writer is a process of its own with one connection, saving one event per
transaction as fast as it can, for `--seconds`; the figure is committed saves per
second, all writers together. The options:

- ``registry``: this store's protocol (`retell.postgres.protocol`): one statement,
  autocommit; the ids are known when the statement returns.
- ``registry-in-txn``: the same insert in BEGIN ... COMMIT (pipelined: one round
  trip), the control for the next two.
- ``registry+notify``: that, with NOTIFY inside the writer's transaction: what the
  store avoids, and why.
- ``table-lock``: the reference library's way: BEGIN, ``LOCK TABLE ... IN EXCLUSIVE
  MODE``, the insert, COMMIT (pipelined).
- ``unordered``: a plain insert with ``nextval``, no ordering at all (readers may skip
  events): the cost floor.
- ``sequencer``: writers insert without a position, recording their transaction id;
  one more process assigns positions in (transaction id, row) order to rows whose
  transaction is below the snapshot's xmin, in batches. Saves do not learn their
  positions; the figure given is the writers', and the sequencer's lag is printed.

It needs PostgreSQL on 127.0.0.1:5432 (user postgres, database test) and works in a
schema of its own, ``retell_measure``, dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql

from retell.config import Environment
from retell.persistence.records import StoredEvent
from retell.postgres import Factory, NotificationLog, protocol

from .helpers import ADMIN_CONNINFO, drop_schema, postgres_env

SCHEMA = "retell_measure"
STATE = os.urandom(120)

Saver = Callable[[psycopg.Connection[Any]], Callable[[], None]]
"""Given a writer's connection, the function that saves one event."""

_PLAIN_SETUP = """
CREATE SEQUENCE {schema}.retell_measure_ids;
CREATE TABLE {schema}.plain_events (
    notification_id bigint UNIQUE, originator_id uuid NOT NULL,
    originator_version integer NOT NULL, topic text NOT NULL, state bytea NOT NULL,
    PRIMARY KEY (originator_id, originator_version))"""

_SEQUENCER_SETUP = """
CREATE TABLE {schema}.sequenced_events (
    notification_id bigint UNIQUE, xid xid8 NOT NULL, row_id bigserial,
    originator_id uuid NOT NULL, originator_version integer NOT NULL, topic text NOT NULL,
    state bytea NOT NULL, PRIMARY KEY (originator_id, originator_version));
CREATE INDEX sequenced_events_todo ON {schema}.sequenced_events (xid, row_id)
    WHERE notification_id IS NULL"""

# Positions for the rows of finished transactions, in (xid, row) order, after the last.
_SEQUENCE_BATCH = """
UPDATE {schema}.sequenced_events AS e SET notification_id = s.base + s.n
FROM (SELECT row_id, row_number() OVER (ORDER BY xid, row_id) AS n,
             (SELECT coalesce(max(notification_id), 0) FROM {schema}.sequenced_events) AS base
        FROM {schema}.sequenced_events
       WHERE notification_id IS NULL
         AND xid < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY xid, row_id LIMIT 5000) AS s
WHERE e.row_id = s.row_id"""


def _event() -> StoredEvent:
    return StoredEvent(uuid4(), 1, "measure:Event", STATE)


def _registry(connection: psycopg.Connection[Any]) -> Callable[[], None]:
    log = NotificationLog(Factory(Environment("Measure", postgres_env(SCHEMA))).tables)
    cursor = connection.cursor()

    def save() -> None:
        protocol.insert_notifications(cursor, log, [_event()])

    return save


def _in_transaction(before: str = "", after: str = "") -> Saver:
    """The registry's save inside BEGIN ... COMMIT, with statements before and after it,
    all pipelined: one round trip, as the reference library does."""

    def make(connection: psycopg.Connection[Any]) -> Callable[[], None]:
        log = NotificationLog(Factory(Environment("Measure", postgres_env(SCHEMA))).tables)
        cursor = connection.cursor()
        statements = [s.format(schema=SCHEMA).encode() for s in (before, after)]

        def save() -> None:
            with connection.pipeline(), connection.transaction():
                if statements[0]:
                    cursor.execute(statements[0])
                protocol.insert_notifications(cursor, log, [_event()])
                if statements[1]:
                    cursor.execute(statements[1])

        return save

    return make


def _plain_insert(table: str, column: str, value: str) -> Saver:
    """One insert per save, in autocommit, with one more column than the event's."""

    def make(connection: psycopg.Connection[Any]) -> Callable[[], None]:
        insert = sql.SQL(
            "INSERT INTO {} (" + column + ", originator_id, originator_version, topic, state) "
            "VALUES (" + value + ", %s, %s, %s, %s)"
        ).format(sql.Identifier(SCHEMA, table))
        cursor = connection.cursor()

        def save() -> None:
            event = _event()
            cursor.execute(insert, (event.originator_id, 1, event.topic, event.state), prepare=True)

        return save

    return make


OPTIONS: dict[str, Saver] = {
    "registry": _registry,
    "registry-in-txn": _in_transaction(),
    "registry+notify": _in_transaction(after="SELECT pg_notify('retell_measure', '')"),
    "table-lock": _in_transaction(before="LOCK TABLE {schema}.measure_events IN EXCLUSIVE MODE"),
    "unordered": _plain_insert(
        "plain_events", "notification_id", f"nextval('{SCHEMA}.retell_measure_ids')"
    ),
    "sequencer": _plain_insert("sequenced_events", "xid", "pg_current_xact_id()"),
}


def _writer(option: str, start: float, seconds: float, counts: Any) -> None:
    done = -1  # a failure (the server restarted by someone?) spoils the round
    try:
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
            save = OPTIONS[option](connection)
            save()  # prepared, warm
            while time.time() < start:
                time.sleep(0.001)
            done = 0
            while time.time() < start + seconds:
                save()
                done += 1
    except psycopg.Error:
        done = -1
    finally:
        counts.put(done)


def _sequencer(start: float, seconds: float, lags: Any) -> None:
    """Assign positions until the writers stop and everything is sequenced."""
    batch = sql.SQL(_SEQUENCE_BATCH).format(schema=sql.Identifier(SCHEMA))
    todo = sql.SQL("SELECT count(*) FROM {} WHERE notification_id IS NULL").format(
        sql.Identifier(SCHEMA, "sequenced_events")
    )
    worst = 0
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as connection:
        while True:
            connection.execute(batch)
            row = connection.execute(todo).fetchone()
            left = row[0] if row else 0
            worst = max(worst, left)
            if time.time() > start + seconds and left == 0:
                break
            time.sleep(0.002)
    lags.put(worst)


def measure(option: str, writers: int, seconds: float) -> float:
    """Committed saves per second of `writers` processes using `option`."""
    drop_schema(SCHEMA)
    factory = Factory(Environment("Measure", postgres_env(SCHEMA)))
    factory.application_recorder().close()  # the store's tables and functions
    factory.close()
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as admin:
        for setup in (_PLAIN_SETUP, _SEQUENCER_SETUP):
            admin.execute(sql.SQL(setup).format(schema=sql.Identifier(SCHEMA)))
    context = multiprocessing.get_context("spawn")
    counts: Any = context.Queue()
    lags: Any = context.Queue()
    start = time.time() + 3  # the processes start and connect meanwhile
    processes = [
        context.Process(target=_writer, args=(option, start, seconds, counts))
        for _ in range(writers)
    ]
    if option == "sequencer":
        processes.append(context.Process(target=_sequencer, args=(start, seconds, lags)))
    for process in processes:
        process.start()
    done = [counts.get(timeout=seconds + 60) for _ in range(writers)]
    for process in processes:
        process.join()
    if option == "sequencer" and not lags.empty():
        print(f"    (sequencer: at most {lags.get()} events waiting for a position)")
    return math.nan if min(done) < 0 else sum(done) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--writers", default="1,4,8")
    parser.add_argument("--options", default=",".join(OPTIONS))
    parser.add_argument("--rounds", type=int, default=3, help="the median of rounds is shown")
    arguments = parser.parse_args()
    options = arguments.options.split(",")
    counts = [int(w) for w in arguments.writers.split(",")]
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        for _ in range(arguments.rounds):  # options interleaved, so that noise hits all alike
            for writers in counts:
                for option in options:
                    rate = measure(option, writers, arguments.seconds)
                    rates.setdefault((option, writers), []).append(rate)
                    print(f"{option:16s} {writers} writers: {rate:8.0f} saves/s", flush=True)
    finally:
        with contextlib.suppress(psycopg.Error):
            drop_schema(SCHEMA)
    print(f"\nmedian of {arguments.rounds} rounds, saves per second")
    print(f"{'option':16s}" + "".join(f"{w:>10d} w" for w in counts))
    for option in options:
        medians = [
            statistics.median([r for r in rates[option, w] if not math.isnan(r)] or [math.nan])
            for w in counts
        ]
        print(f"{option:16s}" + "".join(f"{m:12.0f}" for m in medians))


if __name__ == "__main__":
    main()
