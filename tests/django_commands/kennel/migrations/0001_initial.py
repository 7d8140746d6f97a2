from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="TrickTally",
            fields=[
                ("dog_id", models.UUIDField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("tricks", models.PositiveIntegerField(default=0)),
            ],
            options={"ordering": ["-tricks", "name"]},
        ),
    ]
