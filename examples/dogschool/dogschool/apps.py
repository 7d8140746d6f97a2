"""The app's configuration: the school application, and the leaderboard kept live.

`ready()` makes the application once per process (constructing it touches no
table, so this is fine before ``migrate``). Under ``runserver`` it also starts a
background worker for the leaderboard, so the page stays current with no second
terminal. In production, run ``manage.py run_followers`` instead (as many as you
like: they share the work through leases, and a server's in-process worker, if any,
simply stands by).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from dogschool.domain import DogSchool
    from dogschool.projections import LeaderboardView
    from retell.projection import ProjectionRunner


class DogSchoolConfig(AppConfig):
    name = "dogschool"
    verbose_name = "Dog school"
    default_auto_field = "django.db.models.BigAutoField"

    school: DogSchool
    leaderboard: ProjectionRunner[LeaderboardView]

    def ready(self) -> None:
        from dogschool.domain import DogSchool
        from dogschool.projections import leaderboard
        from retell.django.workers import in_runserver, start_worker

        self.school = DogSchool()
        self.leaderboard = leaderboard()  # not started here: for reading, and waiting on it
        if in_runserver():
            self._worker = start_worker()
