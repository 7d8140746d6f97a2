"""Systems and runners as the `eventsourcing` library's users write them: processing
loops, applications built with the runner, errors raised in the caller's thread, and
the System's introspection. On every runner and store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from retell import Aggregate, event
from retell.cli import load_system
from retell.domain.events import DomainEvent
from retell.errors import PolicyError, RunnerError, SystemDefinitionError
from retell.system import (
    MultiThreadedRunner,
    NewMultiThreadedRunner,
    NewSingleThreadedRunner,
    ProcessApplication,
    ProcessingEvent,
    Runner,
    SingleThreadedRunner,
    System,
)
from retell.system.worker import Worker
from retell.topics import get_topic
from tests.dogschool import Dog, TrainingSchool
from tests.ordering import (
    Orders,
    Payments,
    Reservations,
    check_each_order_went_round_once,
    completed,
    system,
)
from tests.test_system import Counters

RUNNERS: dict[str, type[Runner]] = {
    "single": SingleThreadedRunner,
    "new-single": NewSingleThreadedRunner,
    "multi": MultiThreadedRunner,
    "new-multi": NewMultiThreadedRunner,
    "worker": Worker,
}
SYNCHRONOUS = {"single", "new-single"}


def make_runner(kind: str, system: System, env: dict[str, str] | None = None) -> Runner:
    runner = RUNNERS[kind](system, env)
    if isinstance(runner, Worker):
        runner.takeover_interval = runner.lease_check_interval = 0.05
    return runner


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def finish(kind: str, condition: Callable[[], bool]) -> None:
    """A synchronous runner is done when the save returns; the others, eventually (and
    then nothing more comes: a late duplicate would show in the checks after)."""
    if kind in SYNCHRONOUS:
        assert condition()
    else:
        wait_for(condition)
        time.sleep(0.3)


def check(runner: Runner, order_ids: list[Any]) -> None:
    check_each_order_went_round_once(
        runner.get(Orders), runner.get(Reservations), runner.get(Payments), order_ids
    )


# The processing loop, on every runner and store.


@pytest.mark.parametrize("kind", RUNNERS)
def test_each_order_goes_round_the_loop_once(kind: str, store_env: dict[str, str]) -> None:
    with make_runner(kind, system, store_env) as runner:
        orders = runner.get(Orders)
        order_ids = [orders.place(f"customer {i}", 10 + i) for i in range(5)]
        finish(kind, lambda: completed(orders) == 5)
        check(runner, order_ids)
        # Quiescent: the followers have processed everything of their leaders.
        for name in ("Reservations", "Payments", "Orders"):
            follower = runner.follower(name)
            for leader in runner.system.follows[name]:
                assert follower.pull_and_process(leader) == 0


@pytest.mark.parametrize("kind", RUNNERS)
def test_orders_placed_before_start_go_round_when_it_starts(
    kind: str, store_env: dict[str, str]
) -> None:
    runner = make_runner(kind, system, store_env)
    try:
        orders = runner.get(Orders)  # built with the runner
        assert not runner.is_started
        order_ids = [orders.place("early", 5) for _ in range(3)]
        assert completed(orders) == 0
        runner.start()
        assert runner.get(Orders) is orders
        finish(kind, lambda: completed(orders) == 3)
        check(runner, order_ids)
    finally:
        runner.stop()


@pytest.mark.parametrize("kind", ["single", "multi", "worker"])
def test_exactly_once_across_a_restart(kind: str, shared_store_env: dict[str, str]) -> None:
    runner = make_runner(kind, system, shared_store_env)
    runner.start()
    try:
        order_ids = [runner.get(Orders).place("first", 1) for _ in range(2)]
        finish(kind, lambda: completed(runner.get(Orders)) == 2)
        runner.stop()
        assert not runner.apps
        runner.start()  # builds the applications anew, on the same store
        orders = runner.get(Orders)
        order_ids += [orders.place("second", 2) for _ in range(2)]
        finish(kind, lambda: completed(orders) == 4)
        check(runner, order_ids)
    finally:
        runner.stop()


class Countdown(Aggregate):
    @event("Started")
    def __init__(self, ticks: int) -> None:
        self.remaining = ticks

    @event("Ticked")
    def tick(self) -> None:
        self.remaining -= 1


class Countdowns(ProcessApplication):
    """Follows itself: each of its events makes the next, until the count is down."""

    def start_countdown(self, ticks: int) -> Any:
        countdown = Countdown(ticks)
        self.save(countdown)
        return countdown.id

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        countdown: Any = self.repository.get(domain_event.originator_id)
        if countdown.remaining > 0:
            countdown.tick()
            processing_event.collect_events(countdown)


@pytest.mark.parametrize("kind", RUNNERS)
def test_an_application_that_follows_itself(kind: str) -> None:
    loop = System(pipes=[[Countdowns, Countdowns]])
    assert loop.follows["Countdowns"] == loop.leads["Countdowns"] == ["Countdowns"]
    with make_runner(kind, loop) as runner:
        app = runner.get(Countdowns)
        ids = [app.start_countdown(ticks) for ticks in (3, 0, 7)]
        end = 1 + 3 + 1 + 1 + 7  # every event, ticks included
        finish(kind, lambda: app.recorder.max_tracking_id("Countdowns") == end)
        assert [app.repository.get(i).version for i in ids] == [4, 1, 8]
        assert app.recorder.max_notification_id() == end


def test_a_failing_policy_in_a_loop_fails_the_save_and_the_rest_goes_round() -> None:
    class Fussy(Reservations):
        name = "Reservations"
        refuse = True

        def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
            customer = domain_event.customer  # type: ignore[attr-defined]
            if self.refuse and customer == "mallory":
                raise ValueError("no stock for mallory")
            super().policy(domain_event, processing_event)

    loop = System(pipes=[[Orders, Fussy, Orders, Payments, Orders, Orders]])
    with SingleThreadedRunner(loop) as runner:
        orders = runner.get(Orders)
        alice = orders.place("alice", 1)
        with pytest.raises(PolicyError, match="Reservations failed to process position 5"):
            orders.place("mallory", 1)
        assert orders.get_order(alice).is_completed
        assert completed(orders) == 1
        # Reservations stays at the failed event; once its cause is gone, the next
        # save takes mallory's order round, and the new one.
        runner.get(Fussy).refuse = False
        orders.place("carol", 1)
        assert completed(orders) == 3


# A runner builds its applications when it is constructed.


class Watched(TrainingSchool):
    name = "TrainingSchool"
    closed: list[str] = []

    def close(self) -> None:
        Watched.closed.append(self.name)
        super().close()


class Broken(ProcessApplication):
    def __init__(self, env: Any = None) -> None:
        raise ValueError("Broken cannot be built")


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_construction_error_is_raised_by_the_runner_constructor(kind: str) -> None:
    Watched.closed.clear()
    with pytest.raises(ValueError, match="Broken cannot be built"):
        make_runner(kind, System(pipes=[[Watched, Broken]]))
    assert Watched.closed == ["TrainingSchool"], "what was built before it is closed"


def test_applications_are_built_and_wired_before_start() -> None:
    runner = Runner(system)
    assert list(runner.apps) == ["Orders", "Reservations", "Payments"]
    assert not runner.is_started
    orders = runner.get(Orders)
    order_id = orders.place("alice", 1)
    reservations = runner.follower("Reservations")
    assert reservations.pull_and_process("Orders") == 1  # wired already
    assert orders.pull_and_process("Reservations") == 1
    assert orders.get_order(order_id).reservation_id is not None
    runner.stop()
    with pytest.raises(RunnerError, match="stopped"):
        runner.get(Orders)


def test_get_by_a_class_whose_subclass_takes_its_name() -> None:
    class Counting(Counters):
        name = "Counters"

    runner = SingleThreadedRunner(System(pipes=[[TrainingSchool, Counting]]))
    assert isinstance(runner.get(Counters), Counting)
    assert runner.get(Counting) is runner.get(Counters)
    with pytest.raises(RunnerError, match="Orders is not in this system"):
        runner.get(Orders)
    runner.stop()


# The multi-threaded runner reports a follower's error in the caller's thread.


class Failing(ProcessApplication):
    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        raise ValueError("Failing cannot process")


class Crashing(ProcessApplication):
    """Fails outside any policy (a bug in the follower itself)."""

    def pull_and_process(self, leader_name: str, *args: Any, **kwargs: Any) -> int:
        if self.recorder.max_notification_id() is None and leader_name == "TrainingSchool":
            school_log = self.leaders[leader_name].log
            if school_log.select(1, 1):
                raise TypeError("Crashing is broken")
        return super().pull_and_process(leader_name, *args, **kwargs)


@pytest.mark.parametrize("runner_class", [MultiThreadedRunner, NewMultiThreadedRunner])
def test_watch_for_errors_returns_false_when_there_is_none(
    runner_class: type[MultiThreadedRunner],
) -> None:
    with runner_class(System(pipes=[[TrainingSchool, Counters]])) as runner:
        runner.get(TrainingSchool).register("Fido")
        assert runner.watch_for_errors(timeout=0.0) is False
        assert runner.watch_for_errors(timeout=0.2) is False
        assert runner.is_started


@pytest.mark.parametrize("follower", [Failing, Crashing])
def test_watch_for_errors_stops_the_runner_and_raises_the_error(
    follower: type[ProcessApplication],
) -> None:
    runner = MultiThreadedRunner(System(pipes=[[TrainingSchool, follower]]))
    runner.get(TrainingSchool).register("Fido")  # before start: caught up on starting
    runner.start()
    error = PolicyError if follower is Failing else TypeError
    with pytest.raises(error, match=f"{follower.__name__}"):
        runner.watch_for_errors(timeout=10)
    assert not runner.is_started and not runner.apps
    assert runner.has_errored.is_set() and isinstance(runner.errors[0], error)
    runner.stop()  # raised once already


def test_reraise_thread_errors_raises_without_stopping() -> None:
    runner = MultiThreadedRunner(System(pipes=[[TrainingSchool, Failing]]))
    runner.reraise_thread_errors()  # none yet
    runner.start()
    runner.get(TrainingSchool).register("Fido")
    assert runner.has_errored.wait(timeout=10)
    with pytest.raises(PolicyError, match="Failing cannot process"):
        runner.reraise_thread_errors()
    assert runner.is_started
    with pytest.raises(PolicyError):
        runner.stop()


def test_a_with_block_that_raises_keeps_its_own_error() -> None:
    with (
        pytest.raises(KeyError, match="the block's own"),
        MultiThreadedRunner(System(pipes=[[TrainingSchool, Failing]])) as runner,
    ):
        runner.get(TrainingSchool).register("Fido")
        assert runner.has_errored.wait(timeout=10)
        raise KeyError("the block's own")
    assert isinstance(runner.errors[0], PolicyError)


def test_a_thread_that_errs_leaves_the_others_going() -> None:
    runner = MultiThreadedRunner(
        System(pipes=[[TrainingSchool, Failing], [TrainingSchool, Counters]])
    )
    runner.start()
    try:
        school = runner.get(TrainingSchool)
        school.register("Fido")
        assert runner.has_errored.wait(timeout=10)
        school.add_trick("Fido", "sit")
        counters = runner.get(Counters)
        counters.recorder.wait("TrainingSchool", 2, timeout=10)
        assert counters.count(Dog.create_id("Fido")) == 1
    finally:
        with pytest.raises(PolicyError):
            runner.stop()


# The System's introspection, as the eventsourcing library names it.


class Upstream(TrainingSchool):
    name = "Upstream"


class Ping(ProcessApplication):
    pass


class Pong(ProcessApplication):
    pass


class Downstream(ProcessApplication):
    pass


def test_the_loop_system_described() -> None:
    assert system.nodes == {
        "Orders": get_topic(Orders),
        "Reservations": get_topic(Reservations),
        "Payments": get_topic(Payments),
    }
    assert system.edges == [
        ("Orders", "Reservations"),
        ("Reservations", "Orders"),
        ("Orders", "Payments"),
        ("Payments", "Orders"),
        ("Orders", "Orders"),
    ]
    assert system.leads == {
        "Orders": ["Reservations", "Payments", "Orders"],
        "Reservations": ["Orders"],
        "Payments": ["Orders"],
    }
    assert system.follows["Orders"] == ["Reservations", "Payments", "Orders"]
    assert system.leaders == system.followers == system.processors == list(system.nodes)
    assert system.leaders_only == system.singles == []
    assert system.has_cycles
    assert system.get_app_cls("Orders") is system.follower_cls("Orders") is Orders
    assert system.leader_cls("Payments") is Payments


def test_leaders_followers_and_singles() -> None:
    shape = System(pipes=[[TrainingSchool, Counters], [TrainingSchool, Counters], [Upstream]])
    assert shape.edges == [("TrainingSchool", "Counters")]  # each once
    assert shape.leaders == shape.leaders_only == ["TrainingSchool"]
    assert shape.followers == ["Counters"] and shape.processors == []
    assert shape.singles == ["Upstream"]
    assert not shape.has_cycles
    # Reading an application's links never adds it to the leaders or followers.
    assert shape.leads["Counters"] == [] and shape.follows["TrainingSchool"] == []
    assert "Counters" not in shape.leads and shape.leaders == ["TrainingSchool"]
    assert shape.leader_cls("TrainingSchool") is TrainingSchool
    with pytest.raises(SystemDefinitionError, match="TrainingSchool follows nothing"):
        shape.follower_cls("TrainingSchool")
    with pytest.raises(SystemDefinitionError, match="no application named 'Nobody'"):
        shape.get_app_cls("Nobody")


def test_leaders_come_before_followers_except_within_a_cycle() -> None:
    shape = System(pipes=[[Downstream], [Ping, Pong, Ping, Downstream], [Upstream, Pong]])
    assert shape.order == ["Upstream", "Ping", "Pong", "Downstream"]
    assert shape.has_cycles


def test_a_module_level_system_has_a_topic() -> None:
    assert system.topic == "tests.ordering:system"
    assert load_system(system.topic) is system
    local = System(pipes=[[TrainingSchool]])
    with pytest.raises(SystemDefinitionError, match="not a module attribute"):
        _ = local.topic


def test_cycles_used_to_be_refused_and_are_allowed_now() -> None:
    documented = System(pipes=[[Orders, Reservations, Orders, Payments, Orders]])
    assert documented.has_cycles and len(documented.edges) == 4
    System(pipes=[[Ping, Pong, Ping]])
    System(pipes=[[Ping, Ping]])
    with pytest.raises(SystemDefinitionError, match="only a ProcessApplication can follow"):
        System(pipes=[[Ping, TrainingSchool]])


def test_a_save_from_another_thread_during_a_drain_is_processed() -> None:
    with SingleThreadedRunner(system) as runner:
        orders = runner.get(Orders)
        order_ids: list[Any] = []
        threads = [
            threading.Thread(target=lambda: order_ids.append(orders.place("t", 1)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert completed(orders) == 8
        check(runner, order_ids)
