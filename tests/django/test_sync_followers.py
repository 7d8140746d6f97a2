"""manage.py sync_followers: catching up, dry runs, failures, runner discovery, output."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import override_settings

from retell.django.workers import select
from retell.system import Runner, SingleThreadedRunner
from tests import ordering
from tests.django import services
from tests.django.helpers import env, forget
from tests.django.shop.domain import (
    NAMES,
    Audit,
    Counters,
    Dog,
    Fragile,
    TrainingSchool,
    get_runner,
    make_system,
)

RUNNER_FUNCTION = "tests.django.shop.domain.get_runner"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    services.prepare("default")
    forget("default", NAMES)
    with override_settings(RETELL_RUNNER=RUNNER_FUNCTION):
        yield


def sync(*args: str, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_followers", *args, stdout=out, stderr=err, no_color=True, **options)
    return out.getvalue(), err.getvalue()


def school(*dogs: str, tricks: tuple[str, ...] = (), alias: str = "default") -> None:
    """Record the school's events without processing them (as another process would)."""
    with TrainingSchool(env=env(alias)) as app:
        for name in dogs:
            app.register(name)
        for trick in tricks:
            app.add_trick(dogs[0], trick)


def position(cls: type[Any], leader: str, alias: str = "default") -> int | None:
    with cls(env=env(alias)) as app:
        result: int | None = app.recorder.max_tracking_id(leader)
    return result


def count(cls: type[Any], aggregate_id: Any) -> int:
    with cls(env=env()) as app:
        result: int = app.count(aggregate_id)
    return result


def test_catches_up_every_follower_in_pipe_order() -> None:
    school("Fido", "Rex", tricks=("roll",))
    out, _ = sync(verbosity=2)
    lines = [line for line in out.splitlines() if not line.startswith(" ")]
    assert lines == [
        "Counters: OK, 3 events processed",
        "Audit: OK, 5 events processed",  # Counters' own: Started+Incremented twice, +1
        "Fragile: OK, 3 events processed",
    ]
    assert "  from TrainingSchool: 3 events" in out
    assert count(Counters, Dog.create_id("Fido")) == 2
    again, _ = sync()
    assert "Counters: OK, 0 events processed" in again


def test_names_select_followers() -> None:
    school("Fido")
    out, _ = sync("Fragile")
    assert out.splitlines() == ["Fragile: OK, 1 event processed"]
    assert position(Counters, "TrainingSchool") is None


def test_dry_run_processes_everything_and_rolls_it_all_back() -> None:
    school("Fido", tricks=("roll",))
    out, _ = sync("--dry-run")
    assert "Dry run" in out
    assert "Counters: OK (rolled back), 2 events processed" in out
    assert "Fragile: OK (rolled back), 2 events processed" in out
    assert position(Counters, "TrainingSchool") is None
    assert position(Fragile, "TrainingSchool") is None
    assert count(Counters, Dog.create_id("Fido")) == 0
    assert "Counters: OK, 2 events processed" in sync()[0]


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_dry_run_and_run_on_servers(alias: str) -> None:
    services.prepare(alias)
    forget(alias, NAMES)
    school("Fido", tricks=("roll", "explode"), alias=alias)
    with override_settings(RETELL={"DJANGO_DB_ALIAS": alias}):  # under the runner's env
        with pytest.raises(CommandError, match="Fragile"):
            sync("--dry-run")
        assert position(Counters, "TrainingSchool", alias) is None
        with pytest.raises(CommandError, match="Fragile"):
            sync()
    assert position(Counters, "TrainingSchool", alias) is not None
    assert position(Audit, "Counters", alias) is not None
    assert (
        position(Fragile, "TrainingSchool", alias)
        == position(Counters, "TrainingSchool", alias) - 1
    )  # stopped before "explode", the last event


def test_one_failure_is_reported_and_the_others_still_run() -> None:
    school("Fido", tricks=("roll", "explode", "sit"))
    with pytest.raises(CommandError, match=r"1 of 3 followers failed: Fragile \(run with -v 2"):
        sync()
    assert count(Counters, Dog.create_id("Fido")) == 4
    assert position(Audit, "Counters") is not None
    # What Fragile did before the failing event is kept; it resumes there.
    assert position(Fragile, "TrainingSchool") == position_of_trick("roll")


def position_of_trick(trick: str) -> int:
    with TrainingSchool(env=env()) as app:
        for notification in app.notification_log.select(None, 100):
            if trick.encode() in notification.state:
                return notification.id
    raise AssertionError(trick)


def test_verbosity_two_names_the_event_and_position() -> None:
    school("Fido", tricks=("explode",))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("sync_followers", verbosity=2, stdout=out, stderr=err, no_color=True)
    assert "run with -v 2" not in str(raised.value)
    assert "Fragile: FAILED after 1 event processed" in out.getvalue()
    expected = f"position {position_of_trick('explode')} of TrainingSchool, event Dog.TrickAdded"
    assert expected in err.getvalue()
    assert "ValueError: this trick cannot be counted" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_verbosity_three_adds_the_traceback() -> None:
    school("Fido", tricks=("explode",))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("sync_followers", "Fragile", verbosity=3, stdout=StringIO(), stderr=err)
    assert "Traceback" in err.getvalue()


def test_verbosity_zero_prints_nothing() -> None:
    school("Fido")
    assert sync(verbosity=0) == ("", "")
    assert position(Counters, "TrainingSchool") is not None


def test_a_dry_run_failure_is_rolled_back_too() -> None:
    school("Fido", tricks=("roll", "explode"))
    with pytest.raises(CommandError, match="Fragile"):
        sync("--dry-run")
    assert position(Fragile, "TrainingSchool") is None
    assert position(Counters, "TrainingSchool") is None


def test_unknown_follower_names_are_errors() -> None:
    with pytest.raises(CommandError, match=r"no follower named 'Nobody', 'TrainingSchool'"):
        sync("Nobody", "TrainingSchool", "Counters")


def test_a_started_runner_is_used_as_it_is() -> None:
    school("Fido")
    runner = SingleThreadedRunner(make_system(), env=env())
    with runner, override_settings(RETELL_RUNNER="shop.runner"):
        shop = apps.get_app_config("shop")
        shop.runner = runner  # type: ignore[attr-defined]
        try:
            # Started, it processed what was there; a new event is left for the command.
            TrainingSchool(env=env()).register("Rex")
            out, _ = sync()
            assert runner.is_started
        finally:
            del shop.runner  # type: ignore[attr-defined]
    assert "Counters: OK, 1 event processed" in out
    # Counters' save went through the started runner, which passed it on to Audit at once.
    assert position(Audit, "Counters") is not None


def test_a_runner_not_started_is_started_without_processing_on_start() -> None:
    """API.md: the command starts the runner; all processing is the command's own."""
    school("Fido")
    runner = get_runner()
    with override_settings(RETELL_RUNNER="shop.runner"):
        shop = apps.get_app_config("shop")
        shop.runner = runner  # type: ignore[attr-defined]
        try:
            out, _ = sync()
        finally:
            del shop.runner  # type: ignore[attr-defined]
    try:
        assert "Counters: OK, 1 event processed" in out
        assert runner.is_started and not runner.is_processing
    finally:
        runner.stop()


class TestDiscovery:
    """How the command finds the runner, and what it says when it cannot."""

    @pytest.fixture
    def runner(self) -> Runner:
        return get_runner()

    @pytest.fixture
    def shop(self) -> Iterator[Any]:
        config = apps.get_app_config("shop")
        yield config
        for name in ("runner", "other_runner"):
            config.__dict__.pop(name, None)

    def test_by_app_label_and_attribute(self, shop: Any, runner: Runner) -> None:
        shop.runner = runner
        with override_settings(RETELL_RUNNER="shop.runner"):
            assert "Counters" in sync()[0]

    def test_by_app_name_and_attribute(self, shop: Any, runner: Runner) -> None:
        shop.runner = runner
        with override_settings(RETELL_RUNNER="tests.django.shop.runner"):
            assert "Counters" in sync()[0]

    def test_by_function(self) -> None:
        with override_settings(RETELL_RUNNER=RUNNER_FUNCTION):
            assert "Counters" in sync()[0]

    def test_by_function_as_a_topic(self) -> None:
        with override_settings(RETELL_RUNNER="tests.django.shop.domain:get_runner"):
            assert "Counters" in sync()[0]

    def test_the_one_runner_of_the_installed_apps(self, shop: Any, runner: Runner) -> None:
        shop.runner = runner
        with override_settings(RETELL_RUNNER=None):
            assert "Counters" in sync()[0]

    def test_several_runners_are_named(self, shop: Any, runner: Runner) -> None:
        shop.runner, shop.other_runner = runner, get_runner()
        with override_settings(RETELL_RUNNER=None), pytest.raises(CommandError) as raised:
            sync()
        assert "shop.other_runner, shop.runner" in str(raised.value)
        assert "RETELL_RUNNER" in str(raised.value)

    def test_no_runner_says_how_to_configure(self) -> None:
        with override_settings(RETELL_RUNNER=None), pytest.raises(CommandError) as raised:
            sync()
        assert "RETELL_RUNNER" in str(raised.value)
        assert "AppConfig" in str(raised.value)

    @pytest.mark.parametrize(
        ("setting", "message"),
        [
            ("shop.nothing", "the app 'shop' .* has no attribute 'nothing'"),
            ("no_such_module.get_runner", "neither the label of an installed app nor a module"),
            ("tests.django.shop.domain.nothing", "has an attribute 'nothing'"),
            ("tests.django.shop.domain.NAMES", "a tuple, neither a retell.system.Runner"),
            ("tests.django.shop.domain.make_system", "returned a System, not a"),
            ("runner", "names no attribute"),
        ],
    )
    def test_a_setting_that_does_not_resolve(self, setting: str, message: str) -> None:
        with override_settings(RETELL_RUNNER=setting), pytest.raises(CommandError, match=message):
            sync()


made: list[Runner] = []


def loop_runner() -> SingleThreadedRunner:
    """For RETELL_RUNNER: the processing loop of tests.ordering, on the Django store."""
    made.append(SingleThreadedRunner(ordering.system, env=env()))
    return made[-1]


class TestProcessingLoop:
    @pytest.fixture(autouse=True)
    def _loop(self) -> Iterator[None]:
        forget("default", ordering.NAMES)
        with override_settings(RETELL_RUNNER=f"{__name__}.loop_runner"):
            yield

    def place(self, count: int) -> list[Any]:
        with ordering.Orders(env=env()) as orders:
            return [orders.place(f"customer {i}", 10) for i in range(count)]

    def test_is_synced_in_rounds_until_nothing_is_left(self) -> None:
        order_ids = self.place(2)
        out, _ = sync()
        # Orders reads its leaders' events and all of its own: 2 + 2 + 4 x 2.
        assert out.splitlines() == [
            "Orders: OK, 12 events processed",
            "Reservations: OK, 2 events processed",
            "Payments: OK, 2 events processed",
        ]
        with (
            ordering.Orders(env=env()) as orders,
            ordering.Reservations(env=env()) as reservations,
            ordering.Payments(env=env()) as payments,
        ):
            ordering.check_each_order_went_round_once(orders, reservations, payments, order_ids)
        again, _ = sync()
        assert again.count("OK, 0 events processed") == 3

    def test_a_dry_run_makes_one_round(self) -> None:
        self.place(2)
        out, _ = sync("--dry-run")
        assert "Reservations: OK (rolled back), 2 events processed" in out
        with ordering.Orders(env=env()) as orders:
            assert ordering.completed(orders) == 0
            assert orders.recorder.max_tracking_id("Reservations") is None


def test_a_runner_is_built_without_touching_the_database() -> None:
    """A project may make its runner in AppConfig.ready(), where Django forbids queries,
    and before `migrate` has made the tables (the alias "unmigrated" has none)."""
    for alias in ("default", "unmigrated", "postgres"):
        connections.close_all()
        runner = SingleThreadedRunner(ordering.system, env=env(alias))
        assert isinstance(runner.get(ordering.Orders), ordering.Orders)
        assert connections[alias].connection is None, f"{alias}: a connection was opened"
        runner.stop()


def test_a_runner_made_only_to_find_the_system_is_stopped() -> None:
    """The worker commands read the system and env of the runner a function makes,
    and build applications of their own: the function's runner is closed at once."""
    made.clear()
    with override_settings(RETELL_RUNNER=f"{__name__}.loop_runner"):
        selection = select()
    assert selection.followers == ["Orders", "Reservations", "Payments"]
    (runner,) = made
    assert runner.apps == {} and not runner.is_started
