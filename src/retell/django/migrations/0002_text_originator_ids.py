"""Aggregate ids as text, so that applications with str ids (``"dog-fido"``) share the tables.

UUIDs are kept as their canonical text (``5f0c1f8e-2a4b-...``, as ``str(uuid)`` and
PostgreSQL write them). Django kept them as 32 hex digits on SQLite and MySQL: those
rows are rewritten in the canonical form, so that one form is compared everywhere.

The column compares bytes, not language rules: on MySQL and MariaDB ``utf8mb4_bin``
(their default collations take ``"Dog"`` and ``"dog"`` for one id), and on
PostgreSQL ``"C"`` (exact, and faster to compare and index than a language
collation). SQLite compares bytes already. Django's models do not record a
collation that differs by database, so it is set here, for each vendor.

Reversing it is refused while an application has str ids, which a UUID column
cannot hold.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models

_TABLES = ("retell_events", "retell_snapshots")
_LENGTH = 255
_PARTS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
"""Where the groups of a UUID's 32 hex digits start, and their lengths."""


def _hyphenated(substr: str) -> list[str]:
    """SQL expressions of the five groups of the 32 hex digits in ``originator_id``."""
    return [f"{substr}(originator_id, {start}, {length})" for start, length in _PARTS]


def to_text(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table in _TABLES:
        if vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE {table} ALTER COLUMN originator_id "
                f'TYPE varchar({_LENGTH}) COLLATE "C"'
            )
            continue  # PostgreSQL wrote its uuids as canonical text
        if vendor == "mysql":
            schema_editor.execute(
                f"ALTER TABLE {table} MODIFY originator_id varchar({_LENGTH}) "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
            )
            value = "LOWER(CONCAT(" + ", '-', ".join(_hyphenated("SUBSTRING")) + "))"
            length = "CHAR_LENGTH"
        else:
            value = "lower(" + " || '-' || ".join(_hyphenated("substr")) + ")"
            length = "length"
        schema_editor.execute(
            f"UPDATE {table} SET originator_id = {value} WHERE {length}(originator_id) = 32"
        )


def to_uuid(apps: Any, schema_editor: Any) -> None:
    """Back to what Django's UUIDField keeps: refused while str ids are stored."""
    connection = schema_editor.connection
    vendor = connection.vendor
    length = "CHAR_LENGTH" if vendor == "mysql" else "length"
    with connection.cursor() as cursor:
        for table in _TABLES:
            cursor.execute(
                f"SELECT application_name, originator_id FROM {table} "
                f"WHERE {length}(originator_id) <> 36 OR originator_id NOT LIKE '%-%-%-%-%' "
                "LIMIT 1"
            )
            row = cursor.fetchone()
            if row is not None:
                raise RuntimeError(
                    f"{table} holds the str id {row[1]!r} of the application {row[0]!r}: a "
                    "UUID column cannot hold it. Delete that application's records first."
                )
    if vendor != "postgresql" and not connection.features.has_native_uuid_field:
        for table in _TABLES:
            schema_editor.execute(
                f"UPDATE {table} SET originator_id = REPLACE(originator_id, '-', '')"
            )


def _text_field() -> models.CharField[str, str]:
    return models.CharField(max_length=_LENGTH)


class Migration(migrations.Migration):
    dependencies: ClassVar[list[tuple[str, str]]] = [("retell", "0001_initial")]

    # Reversed, to_uuid runs first: it checks, and writes the form UUIDField reads,
    # before the column is a UUID column again.
    operations = [
        migrations.AlterField("eventrecord", "originator_id", _text_field()),
        migrations.AlterField("snapshotrecord", "originator_id", _text_field()),
        # Not atomic: on MySQL and MariaDB, DDL cannot run inside a transaction.
        migrations.RunPython(to_text, to_uuid, elidable=False, atomic=False),
    ]
