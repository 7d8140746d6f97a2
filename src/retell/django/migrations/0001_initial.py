"""retell's tables, and on PostgreSQL the functions of the in-flight registry."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models


def create_functions(apps: Any, schema_editor: Any) -> None:
    """PostgreSQL only: ``retell_allocate_ids`` and ``retell_settled_horizon``."""
    if schema_editor.connection.vendor == "postgresql":
        from retell.django.dialects.postgresql import create_functions

        create_functions(schema_editor)


def _name() -> models.CharField[str, str]:
    return models.CharField(max_length=100)


def _event_fields() -> list[tuple[str, models.Field[Any, Any]]]:
    return [
        ("id", models.BigAutoField(primary_key=True, serialize=False)),
        ("application_name", _name()),
        ("originator_id", models.UUIDField()),
        ("originator_version", models.BigIntegerField()),
        ("topic", models.CharField(max_length=255)),
        ("state", models.BinaryField()),
    ]


def _unique_version(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=("application_name", "originator_id", "originator_version"), name=name
    )


class Migration(migrations.Migration):
    initial = True

    dependencies: ClassVar[list[tuple[str, str]]] = []

    operations = [
        migrations.CreateModel(
            name="LogLock",
            fields=[
                (
                    "application_name",
                    models.CharField(max_length=100, primary_key=True, serialize=False),
                )
            ],
            options={"verbose_name": "log lock", "db_table": "retell_log_locks"},
        ),
        migrations.CreateModel(
            name="EventRecord",
            fields=_event_fields(),
            options={
                "verbose_name": "event",
                "db_table": "retell_events",
                "indexes": [
                    models.Index(fields=["application_name", "id"], name="retell_events_log"),
                    models.Index(
                        fields=["application_name", "topic", "id"], name="retell_events_topic"
                    ),
                ],
                "constraints": [_unique_version("retell_events_version_unique")],
            },
        ),
        migrations.CreateModel(
            name="SnapshotRecord",
            fields=_event_fields(),
            options={
                "verbose_name": "snapshot",
                "db_table": "retell_snapshots",
                "constraints": [_unique_version("retell_snapshots_version_unique")],
            },
        ),
        migrations.CreateModel(
            name="TrackingRecord",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("application_name", _name()),
                ("upstream_application_name", _name()),
                ("notification_id", models.BigIntegerField()),
            ],
            options={
                "verbose_name": "tracking position",
                "db_table": "retell_tracking",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("application_name", "upstream_application_name"),
                        name="retell_tracking_leader_unique",
                    )
                ],
            },
        ),
        migrations.RunPython(create_functions, migrations.RunPython.noop, elidable=False),
    ]
