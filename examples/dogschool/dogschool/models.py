"""The leaderboard: ordinary Django models, written only by the `Leaderboard` projection.

Nothing else writes these rows; they can be emptied and rebuilt from the events at
any time (``manage.py rebuild_projection Leaderboard``).
"""

from __future__ import annotations

from django.db import models


class LeaderboardEntry(models.Model):
    """A dog, its number of tricks, and the last trick it learned."""

    dog_id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=100)
    tricks = models.PositiveIntegerField(default=0)
    last_trick = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-tricks", "name"]
        indexes = [models.Index(fields=["-tricks", "name"], name="leaderboard_rank")]
        verbose_name_plural = "leaderboard"

    def __str__(self) -> str:
        return f"{self.name}: {self.tricks}"
