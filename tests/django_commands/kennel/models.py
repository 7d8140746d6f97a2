"""The view of the `Tally` projection: one row per dog, with how many tricks it knows."""

from __future__ import annotations

from django.db import models


class TrickTally(models.Model):
    dog_id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=100)
    tricks = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "kennel"
        ordering = ["-tricks", "name"]
