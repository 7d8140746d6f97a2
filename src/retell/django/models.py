"""The tables, as Django models: for migrations and the admin, not for the store's writes.

The store reads and writes them with its own SQL (`retell.django.dialects`); the
models say what the tables are, so that ``migrate`` makes them on any database
Django supports, with the indexes the store's queries use.

`originator_id` is text on every database: a UUID as its canonical 36 characters, a
str id as it is. One column serves the applications of both id types that share the
tables; each application's ``ORIGINATOR_ID_TYPE`` says how its ids read back
(migration 0002 explains the column's collation).
"""

from __future__ import annotations

from django.db import models

from retell.django import tables


class StoredRecord(models.Model):
    """What events and snapshots share: an aggregate's version, its topic and state."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    application_name: models.CharField[str, str] = models.CharField(max_length=tables.NAME_LENGTH)
    originator_id: models.CharField[str, str] = models.CharField(max_length=tables.ID_LENGTH)
    originator_version: models.BigIntegerField[int, int] = models.BigIntegerField()
    topic: models.CharField[str, str] = models.CharField(max_length=tables.TOPIC_LENGTH)
    state: models.BinaryField[bytes, bytes] = models.BinaryField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.application_name}: {self.originator_id} v{self.originator_version}"


def _unique_version(table: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["application_name", "originator_id", "originator_version"],
        name=f"{table}_version_unique",
    )


class EventRecord(StoredRecord):
    """One event. Its `id` is its position in its application's notification log.

    Ids come from one sequence for every application, so an application's log has
    gaps where other applications' events are; readers only rely on ids increasing.
    """

    class Meta:
        db_table = tables.EVENTS
        verbose_name = "event"
        constraints = [_unique_version(tables.EVENTS)]
        indexes = [
            models.Index(fields=["application_name", "id"], name="retell_events_log"),
            models.Index(fields=["application_name", "topic", "id"], name="retell_events_topic"),
        ]

    def __str__(self) -> str:
        return f"{self.application_name} #{self.id}: {self.topic} v{self.originator_version}"


class SnapshotRecord(StoredRecord):
    """A snapshot of an aggregate at a version; snapshots have no log position."""

    class Meta:
        db_table = tables.SNAPSHOTS
        verbose_name = "snapshot"
        constraints = [_unique_version(tables.SNAPSHOTS)]


class TrackingRecord(models.Model):
    """How far `application_name` (a follower or a view) has processed a leader's log.

    One row per (follower, leader), only ever moved forward.
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    application_name: models.CharField[str, str] = models.CharField(max_length=tables.NAME_LENGTH)
    upstream_application_name: models.CharField[str, str] = models.CharField(
        max_length=tables.NAME_LENGTH
    )
    notification_id: models.BigIntegerField[int, int] = models.BigIntegerField()

    class Meta:
        db_table = tables.TRACKING
        verbose_name = "tracking position"
        constraints = [
            models.UniqueConstraint(
                fields=["application_name", "upstream_application_name"],
                name="retell_tracking_leader_unique",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.application_name} <- {self.upstream_application_name}: {self.notification_id}"
        )


class LogLock(models.Model):
    """A row per application log that its writers lock first, on MySQL and MariaDB only.

    InnoDB gives out auto-increment ids at insert, not at commit, so two writers can
    commit out of id order and a reader between the commits would skip an event.
    Holding this row's lock from before the insert to the commit makes one writer
    of a log at a time allocate and commit. See docs/django.md.
    """

    application_name: models.CharField[str, str] = models.CharField(
        max_length=tables.NAME_LENGTH, primary_key=True
    )

    class Meta:
        db_table = tables.LOG_LOCKS
        verbose_name = "log lock"

    def __str__(self) -> str:
        return self.application_name
