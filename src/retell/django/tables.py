"""The names of retell's tables and their limits, shared by the models and the raw SQL.

The store writes with SQL of its own (multi-row inserts, upserts, locking reads
that the ORM cannot express), so the names live here rather than only in the
models, and neither side can drift from the other.
"""

from __future__ import annotations

EVENTS = "retell_events"
SNAPSHOTS = "retell_snapshots"
TRACKING = "retell_tracking"
LOG_LOCKS = "retell_log_locks"
"""One row per application log, locked by its writers on MySQL and MariaDB."""

NAME_LENGTH = 100
"""Longest application name: MySQL indexes at most 3,072 bytes, four per character."""

TOPIC_LENGTH = 255
"""Longest topic: indexed, with the application name, for topic-filtered reads."""

ID_LENGTH = 255
"""Longest aggregate id (a str id; a UUID is kept as its 36 characters): indexed, with
the application name and version, in under MySQL's 3,072 bytes."""

ALL = (EVENTS, SNAPSHOTS, TRACKING, LOG_LOCKS)
