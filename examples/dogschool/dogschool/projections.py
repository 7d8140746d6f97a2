"""The leaderboard projection: the school's events, written into `LeaderboardEntry` rows.

Each event is applied in one transaction with the view's position in the school's
log (`DjangoProjection` does that), so it is applied exactly once, whichever process
runs it and however often it restarts. ``RETELL_PROJECTIONS`` names `leaderboard`,
so ``manage.py run_followers``, ``rebuild_projection`` and ``retell_status`` find it.
"""

from __future__ import annotations

from functools import singledispatchmethod

from django.db.models import F

from dogschool.domain import Dog, DogSchool
from dogschool.models import LeaderboardEntry
from retell.django.projections import DjangoProjection, DjangoView
from retell.domain.events import DomainEvent
from retell.projection import ProjectionRunner


class LeaderboardView(DjangoView):
    """The view: the model it owns (emptied on a rebuild), and the query the pages use."""

    models = (LeaderboardEntry,)

    def ranking(self) -> list[LeaderboardEntry]:
        return list(LeaderboardEntry.objects.using(self.alias).order_by("-tricks", "name"))


class Leaderboard(DjangoProjection[LeaderboardView]):
    """Dogs ranked by how many tricks they know."""

    topics = (Dog.Registered, Dog.TrickAdded)

    @singledispatchmethod
    def handle(self, domain_event: DomainEvent) -> None:
        """Events of other classes change nothing."""

    @handle.register
    def _(self, domain_event: Dog.Registered) -> None:
        LeaderboardEntry.objects.using(self.alias).create(
            dog_id=domain_event.originator_id,
            name=domain_event.name,
            updated_at=domain_event.timestamp,
        )

    @handle.register
    def _(self, domain_event: Dog.TrickAdded) -> None:
        LeaderboardEntry.objects.using(self.alias).filter(dog_id=domain_event.originator_id).update(
            tricks=F("tricks") + 1,
            last_trick=domain_event.trick,
            updated_at=domain_event.timestamp,
        )


def leaderboard() -> ProjectionRunner[LeaderboardView]:
    """A new runner of the leaderboard (named in settings.RETELL_PROJECTIONS)."""
    return ProjectionRunner(DogSchool, Leaderboard, LeaderboardView)
