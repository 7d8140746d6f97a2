"""Code that tests run in other processes (multiprocessing ``spawn`` imports it by name)."""

from __future__ import annotations

import random
import time
from multiprocessing.queues import Queue
from typing import Any
from uuid import uuid4

import psycopg

from retell.persistence.records import StoredEvent
from retell.postgres import NotificationLog, protocol

from .helpers import ADMIN_CONNINFO, make_factory

APP = "GlobalLog"


def events(count: int) -> list[StoredEvent]:
    """`count` events of one new aggregate."""
    aggregate = uuid4()
    return [StoredEvent(aggregate, v, "tests:Event", b"x" * 40) for v in range(1, count + 1)]


def write(schema: str, seed: int, saves: int, results: Queue[Any]) -> None:
    """Save `saves` times: half through the recorder (one statement, autocommit), half in
    explicit transactions held open a few milliseconds, a sixth of which roll back (gaps).

    Puts the ids of what was committed on `results`, or the error.
    """
    try:
        rng = random.Random(seed)
        factory = make_factory(schema, APP)
        recorder = factory.application_recorder()
        log = NotificationLog(factory.tables)
        committed: list[int] = []
        with psycopg.connect(ADMIN_CONNINFO) as connection:
            for _ in range(saves):
                batch = events(rng.randint(1, 3))
                choice = rng.random()
                if choice < 0.5:
                    committed += recorder.insert_events(batch)
                    continue
                with connection.cursor() as cursor:
                    ids = protocol.insert_notifications(cursor, log, batch)
                time.sleep(rng.random() * 0.004)
                if choice < 0.6:
                    connection.rollback()
                else:
                    connection.commit()
                    committed += ids
        factory.close()
        results.put(committed)
    except BaseException as error:
        results.put(repr(error))
        raise


def write_and_hang(schema: str, results: Queue[Any]) -> None:
    """Insert one event in a transaction, report its id, and never commit (wait to be killed)."""
    factory = make_factory(schema, APP)
    log = NotificationLog(factory.tables)
    connection = psycopg.connect(ADMIN_CONNINFO)
    with connection.cursor() as cursor:
        results.put(protocol.insert_notifications(cursor, log, events(1)))
    time.sleep(600)
