"""retell_status, rebuild_projection and run_followers' refusals, in this process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError
from django.test.utils import override_settings

from retell.django.console import status_table
from retell.django.workers import in_runserver
from retell.system.worker import COUNT_LIMIT, FollowerStatus, projection_lease
from tests.django.helpers import env
from tests.django_commands.helpers import clean, command, school
from tests.django_commands.kennel.models import TrickTally
from tests.test_system import TrainingSchool

PROJECTIONS = "tests.django_commands.kennel.projections"


@pytest.fixture(autouse=True)
def _clean() -> None:
    clean("default")


@pytest.fixture
def recorded() -> Iterator[Any]:
    """Two dogs and three tricks, processed by nobody yet."""
    with school() as app:
        app.register("Fido")
        app.register("Rex")
        for trick in ("sit", "roll"):
            app.add_trick("Fido", trick)
        app.add_trick("Rex", "sit")
        yield app


def test_status_shows_positions_and_lags_in_a_table(recorded: Any) -> None:
    command("rebuild_projection", "Tally", verbosity=0)
    recorded.add_trick("Rex", "beg")
    out, _ = command("retell_status")
    last = recorded.recorder.max_notification_id()
    assert [line.split() for line in out.splitlines()] == [
        ["NAME", "KIND", "LEADER", "POSITION", "LEADER", "AT", "LAG", "WORKER"],
        # The lag counts the events it reads (Counters: tricks only), not positions,
        # which the Django store shares between applications.
        ["Counters", "follower", "TrainingSchool", "0", str(last), "4", "stopped"],
        ["Tally", "projection", "TrainingSchool", str(last - 1), str(last), "1", "stopped"],
    ]
    only, _ = command("retell_status", "Tally")
    assert len(only.splitlines()) == 2


def test_the_table_aligns_columns_and_caps_what_it_counts() -> None:
    rows = [
        FollowerStatus("Counters", "TrainingSchool", 7, 20_000, "running", behind=12),
        FollowerStatus("Tally", "School", 0, 99_999, "stopped", "projection", COUNT_LIMIT + 1),
    ]
    assert status_table(rows) == [
        "NAME      KIND        LEADER          POSITION  LEADER AT     LAG  WORKER",
        "Counters  follower    TrainingSchool         7      20000      12  running",
        "Tally     projection  School                 0      99999  10000+  stopped",
    ]
    assert str(rows[1]) == "Tally <- School: at 0 of 99999, lag 10000+ (stopped)"


def test_status_says_which_are_running(recorded: Any) -> None:
    held = TrainingSchool(env=env()).factory.lease(projection_lease("Tally"))
    assert held.acquire()
    try:
        out, _ = command("retell_status", "Tally")
    finally:
        held.release()
    assert out.splitlines()[1].split()[-1] == "running"


def test_rebuild_empties_and_replays_with_a_progress_bar(recorded: Any) -> None:
    TrickTally.objects.create(
        dog_id=recorded.recorder.select_notifications(None, 1)[0].originator_id,
        name="stale",
        tricks=99,
    )
    out, err = command("rebuild_projection", "Tally")
    assert out == "Rebuilt Tally: 5 events processed.\n"
    assert err.splitlines()[-1].startswith("Tally [" + "#" * 30 + "] 100%  position")
    assert {row.name: row.tricks for row in TrickTally.objects.all()} == {"Fido": 2, "Rex": 1}
    again, _ = command("rebuild_projection", "Tally")
    assert again == out


def test_rebuild_of_an_unknown_projection_names_those_there_are() -> None:
    with pytest.raises(
        CommandError, match=r"no projection named 'Nope': the projections are Tally\."
    ):
        command("rebuild_projection", "Nope")
    with (
        override_settings(RETELL_PROJECTIONS=[]),
        pytest.raises(CommandError, match="RETELL_PROJECTIONS names none"),
    ):
        command("rebuild_projection", "Nope")


def test_a_failing_handler_stops_the_rebuild_and_names_the_event(recorded: Any) -> None:
    recorded.add_trick("Rex", "explode")
    recorded.add_trick("Rex", "beg")
    failing = recorded.recorder.max_notification_id() - 1
    with pytest.raises(CommandError) as raised:
        command("rebuild_projection", "Tally")
    message = str(raised.value)
    assert (
        f"Tally failed to process position {failing} of TrainingSchool (Dog.TrickAdded)" in message
    )
    assert "ValueError: this trick cannot be counted" in message
    assert f"The view holds the events before position {failing}" in message
    assert {row.name: row.tricks for row in TrickTally.objects.all()} == {"Fido": 2, "Rex": 1}


def test_rebuild_refuses_while_a_worker_runs_the_projection(recorded: Any) -> None:
    held = TrainingSchool(env=env()).factory.lease(projection_lease("Tally"))
    assert held.acquire()
    try:
        with pytest.raises(CommandError, match="Tally is being run by a worker"):
            command("rebuild_projection", "Tally")
    finally:
        held.release()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("tests.django_commands.kennel.projections.tally", "is a list of dotted paths"),
        (["nowhere.tally"], "'nowhere.tally' does not import"),
        ([f"{PROJECTIONS}.missing"], 'does not define a "missing"'),
        ([f"{PROJECTIONS}.TrickTally"], "returned a TrickTally, not a"),
        (
            [f"{PROJECTIONS}.not_a_runner"],
            "returned a str, not a retell.projection.ProjectionRunner",
        ),
        ([f"{PROJECTIONS}.ENV"], "is a dict, not a function"),
        (
            [f"{PROJECTIONS}.tally", f"{PROJECTIONS}:tally"],
            "two entries make projections named 'Tally'",
        ),
    ],
)
@pytest.mark.parametrize("name", ["retell_status", "rebuild_projection", "run_followers"])
def test_bad_settings_are_command_errors(name: str, setting: Any, message: str) -> None:
    args = ["Tally"] if name == "rebuild_projection" else []
    with override_settings(RETELL_PROJECTIONS=setting), pytest.raises(CommandError, match=message):
        command(name, *args)


def test_unknown_names_are_refused_with_those_there_are() -> None:
    expected = (
        r"no follower or projection named 'Nope'; there are the followers Counters "
        r"and the projections Tally"
    )
    for name in ("run_followers", "retell_status"):
        with pytest.raises(CommandError, match=expected):
            command(name, "Nope")


def test_a_worker_with_nothing_to_run_says_so() -> None:
    runner = f"{PROJECTIONS}.runner_without_followers"
    with (
        override_settings(RETELL_RUNNER=runner, RETELL_PROJECTIONS=[]),
        pytest.raises(CommandError, match="nothing to run: the runner's system has no followers"),
    ):
        command("run_followers")


def test_without_runner_or_projections_the_worker_says_how_to_configure() -> None:
    with (
        override_settings(RETELL_RUNNER=None, RETELL_PROJECTIONS=[]),
        pytest.raises(CommandError, match="RETELL_RUNNER"),
    ):
        command("run_followers")
    with override_settings(RETELL_RUNNER=None):  # projections alone are enough
        out, _ = command("retell_status")
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "Tally"]


@pytest.mark.parametrize(
    ("argv", "environ", "serving"),
    [
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),  # the autoreloader's child
        (["manage.py", "runserver"], {}, False),  # the autoreloader itself
        (["manage.py", "runserver", "8001", "--noreload"], {}, True),
        (["manage.py", "migrate"], {"RUN_MAIN": "true"}, False),
        (["manage.py"], {}, False),
    ],
)
def test_in_runserver_is_only_the_serving_process(
    argv: list[str], environ: dict[str, str], serving: bool
) -> None:
    assert in_runserver(argv, environ) is serving
