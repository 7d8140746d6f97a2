"""What a Django project's tests need to test projections and followers.

`catch_up` runs a projection, or a system's followers, to the end of what is recorded,
in the test's own thread, and returns. In the test's thread, on Django's connection
for the test: so it works in a `django.test.TestCase`, whose transaction no other
thread can see, and a test needs no thread to wait for, and no sleep.

Nothing here is needed to tear down: whatever retell holds on the test database
(threads' connections, the LISTEN connection on PostgreSQL) is released when Django
drops it (`retell.django.testdb`).
"""

from __future__ import annotations

from typing import Any

from retell.django import testdb  # noqa: F401 (Django's test databases, see there)
from retell.errors import RetellError
from retell.persistence.records import Tracking
from retell.projection import ProjectionRunner
from retell.system import Runner

__all__ = ["catch_up"]

PAGE = 500
"""Notifications read at once."""


def catch_up(*runners: ProjectionRunner[Any] | Runner) -> int:
    """Process what is recorded, in this thread, until nothing is left; the events processed.

    Each argument is a `retell.projection.ProjectionRunner` (its projection catches up
    with its application's log; started or not) or a `retell.system.Runner` (every
    follower catches up with its leaders, in the order of the system's pipes; a
    runner not started is started without processing, as ``sync_followers`` does).
    With no argument: the project's runner (``RETELL_RUNNER``, or the one an AppConfig
    holds), if there is one, then every projection of ``RETELL_PROJECTIONS``.

    They are run in the order given, again and again until a round processes
    nothing, so a projection of a follower's events sees what the follower made. The
    first failure is raised (a `retell.errors.PolicyError` names the event).
    """
    if not runners:
        return _catch_up_project()
    total = 0
    while True:
        processed = sum(_catch_up(runner) for runner in runners)
        total += processed
        if not processed:
            return total


def _catch_up(runner: ProjectionRunner[Any] | Runner) -> int:
    if isinstance(runner, ProjectionRunner):
        return _catch_up_projection(runner)
    if isinstance(runner, Runner):
        return _catch_up_followers(runner)
    raise TypeError(f"catch_up() takes ProjectionRunners and retell.system.Runners, not {runner!r}")


def _catch_up_projection(runner: ProjectionRunner[Any]) -> int:
    """Hand the projection what follows the view's position, `batch_size` at a time."""
    leader, projection = runner.leader_name, runner.projection
    decode, size = runner.app.mapper.to_domain_event, projection.batch_size
    position = runner.view.max_tracking_id(leader) or 0
    processed = 0
    while page := runner.app.recorder.select_notifications(
        position + 1, PAGE, topics=runner.topics
    ):
        for start in range(0, len(page), size):
            projection.process_events(
                [(decode(n), Tracking(leader, n.id)) for n in page[start : start + size]]
            )
        processed += len(page)
        position = page[-1].id
    return processed


def _catch_up_followers(runner: Runner) -> int:
    """Every follower, as ``manage.py sync_followers`` runs them; the first failure raised."""
    from retell.django.sync import Synchronizer

    with Synchronizer(runner) as synchronizer:
        results = synchronizer.run_all()
    for result in results:
        if result.error is not None:
            raise result.error
    return sum(result.processed for result in results)


def _catch_up_project() -> int:
    """The project's followers, then its projections, each runner made for this call closed."""
    from retell.django.runner import locate_runner
    from retell.django.workers import close, project_system, projection_runners

    runners: list[ProjectionRunner[Any] | Runner] = []
    made: Runner | None = None
    if project_system(required=False) is not None:
        runner, made_here = locate_runner()
        runners.append(runner)
        made = runner if made_here else None
    projections = projection_runners()
    runners.extend(projections)
    if not runners:
        raise RetellError(
            "catch_up() found neither a runner (RETELL_RUNNER) nor projections "
            "(RETELL_PROJECTIONS): pass the runners to catch up"
        )
    try:
        return catch_up(*runners)
    finally:
        close(projections)
        if made is not None:
            made.stop()
