"""The admin's reads that must stay fast on a table of millions of events.

Every page runs only index seeks and short index range scans; none counts or scans
the table. What needs care:

- The filters' choices, the distinct (application, topic) pairs. ``SELECT DISTINCT``
  would read the whole table on PostgreSQL and SQLite; a *loose index scan* over
  the index ``retell_events_topic`` (application_name, topic, id) jumps from one
  pair to the next instead, one index seek per pair:

  - PostgreSQL: one recursive CTE whose each step seeks the next pair with a row
    comparison (``(application_name, topic) > (prev...)``), which btree indexes serve;
  - MySQL and MariaDB: ``SELECT DISTINCT`` itself, which their optimizers run as a
    loose index scan ("Using index for group-by");
  - SQLite (and any other database): the same seek as PostgreSQL's, one statement
    per pair, which costs microseconds in process.

- Searching by aggregate id. The only index with ``originator_id`` is the unique
  (application_name, originator_id, originator_version), so the search asks for
  ``application_name IN (every application) AND originator_id = %s``: one index
  seek per application, instead of a scan for want of a leading column.
"""

from __future__ import annotations

from django.db import connections

from retell.django import tables

MAX_PAIRS = 1_000
"""At most this many (application, topic) pairs are listed: a filter longer is no use."""

_FIRST = (
    f"SELECT application_name, topic FROM {tables.EVENTS} ORDER BY application_name, topic LIMIT 1"
)
_NEXT = (
    f"SELECT application_name, topic FROM {tables.EVENTS} "
    "WHERE (application_name, topic) > (%s, %s) "
    "ORDER BY application_name, topic LIMIT 1"
)
_POSTGRES = f"""
WITH RECURSIVE pairs(application_name, topic, n) AS (
    (SELECT application_name, topic, 1 FROM {tables.EVENTS}
     ORDER BY application_name, topic LIMIT 1)
    UNION ALL
    SELECT next.application_name, next.topic, pairs.n + 1
    FROM pairs, LATERAL (
        SELECT e.application_name, e.topic FROM {tables.EVENTS} AS e
        WHERE (e.application_name, e.topic) > (pairs.application_name, pairs.topic)
        ORDER BY e.application_name, e.topic LIMIT 1
    ) AS next
    WHERE pairs.n < %s
)
SELECT application_name, topic FROM pairs
"""
_MYSQL = (
    f"SELECT application_name, topic FROM {tables.EVENTS} "
    "GROUP BY application_name, topic ORDER BY application_name, topic LIMIT %s"
)


def application_topics(alias: str) -> list[tuple[str, str]]:
    """The distinct (application name, topic) pairs of the events table, in order."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES, [MAX_PAIRS])
            return [(str(a), str(t)) for a, t in cursor.fetchall()]
        if connection.vendor == "mysql":
            cursor.execute(_MYSQL, [MAX_PAIRS])
            return [(str(a), str(t)) for a, t in cursor.fetchall()]
        pairs: list[tuple[str, str]] = []
        cursor.execute(_FIRST)
        row = cursor.fetchone()
        while row is not None and len(pairs) < MAX_PAIRS:
            pairs.append((str(row[0]), str(row[1])))
            cursor.execute(_NEXT, [row[0], row[1]])
            row = cursor.fetchone()
        return pairs
