"""retell.django.testing.catch_up: projections and followers run to the end, in the
test's thread, on each database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings

from retell.django.testing import catch_up
from retell.errors import PolicyError, RetellError
from retell.projection import ProjectionRunner
from retell.system import SingleThreadedRunner, System
from tests.django.helpers import env
from tests.django_commands.helpers import clean, school
from tests.django_commands.kennel.projections import Tally, TallyView
from tests.dogschool import Dog, TrainingSchool
from tests.test_system import Counters


def tally(alias: str) -> ProjectionRunner[TallyView]:
    return ProjectionRunner(TrainingSchool, Tally, TallyView, env=env(alias))


def test_a_projection_is_caught_up_and_its_count_returned(alias: str) -> None:
    runner = tally(alias)
    try:
        app: Any = runner.app
        app.register("Fido")
        app.add_trick("Fido", "sit")
        assert catch_up(runner) == 2
        assert runner.view.tricks() == {"Fido": 1}
        assert catch_up(runner) == 0
        app.add_trick("Fido", "roll")
        assert catch_up(runner) == 1
        assert runner.view.tricks() == {"Fido": 2}
    finally:
        runner.stop()


def test_followers_and_a_projection(alias: str) -> None:
    runner = SingleThreadedRunner(System(pipes=[[TrainingSchool, Counters]]), env=env(alias))
    projection = tally(alias)
    try:
        with school(alias) as app:
            app.register("Rex")
            app.add_trick("Rex", "sit")
            app.add_trick("Rex", "beg")
        assert catch_up(runner, projection) == 3 + 3  # each processes the three events
        assert runner.get(Counters).count(Dog.create_id("Rex")) == 2
        assert projection.view.tricks() == {"Rex": 2}
    finally:
        projection.stop()
        runner.stop()


def test_a_failure_names_the_event(alias: str) -> None:
    runner = tally(alias)
    try:
        app: Any = runner.app
        app.register("Fido")
        app.add_trick("Fido", "explode")
        with pytest.raises(PolicyError, match="Tally"):
            catch_up(runner)
        assert runner.view.tricks() == {"Fido": 0}  # what came before it is kept
    finally:
        runner.stop()


def test_without_arguments_the_projects_runner_and_projections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean("default")
    monkeypatch.setenv("WORKER_LOG", str(tmp_path / "log"))  # the project's follower logs
    with school() as app:
        app.register("Ace")
        app.add_trick("Ace", "sit")
    assert catch_up() == 1 + 2
    runner = tally("default")
    try:
        assert runner.view.tricks() == {"Ace": 1}
    finally:
        runner.stop()


def test_without_arguments_or_anything_to_run_says_what_to_pass() -> None:
    with (
        override_settings(RETELL_RUNNER=None, RETELL_PROJECTIONS=[]),
        pytest.raises(RetellError, match="pass the runners"),
    ):
        catch_up()


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="ProjectionRunners"):
        catch_up("Tally")  # type: ignore[arg-type]
