"""A server crash just after a rolled-back save, lived through by a long-lived reader.

PostgreSQL logs a sequence 32 values ahead of use, and only a commit (or the WAL
writer, within ``wal_writer_delay``: the test cluster sets it to 10 s) flushes that
log. So the 40 ids that a save failing with `ConcurrencyError` took are, after a
crash, handed out again. A reader that had asked for a horizon above them and
trusted it after the crash would read a later committed id while an earlier one is
still in flight, and step over it for good.

The scenario, for any way of following the log (a `Consumer`):

1. two saves commit ids 1 and 2, and the consumer reads them;
2. a stale save of 40 events fails on its first row (ids 3..42 taken and rolled
   back); the consumer reads to the end again (nothing new), so that its horizon is
   above 42, and nothing commits until the crash (a commit would flush the
   sequence);
3. the server crashes and starts again (the sequence is back at 33);
4. one save is held open (id 34, in flight), another commits (id 35);
5. the consumer must not read 35 while 34 is in flight; once 34 commits, it must
   have read every committed event, in order.

Used by the PostgreSQL store's tests here and, in a subprocess with Django set up on
the test's cluster, by the Django store's (`tests/faults/django_crash.py`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol
from uuid import UUID

from retell.domain.events import DomainEvent
from retell.errors import ConcurrencyError, OperationalError
from retell.persistence.recorders import TrackingRecorder
from retell.persistence.records import Tracking
from retell.projection import Projection, ProjectionRunner
from retell.system import ProcessApplication, ProcessingEvent
from tests.postgres.helpers import Dog, Kennel

SETTLE_SECONDS = 1.5
"""Long enough for a subscription's poll (every second) to read to the end."""


class Consumer(Protocol):
    """A way of following the log: what it has read so far, as originator ids."""

    def consume(self) -> list[UUID]:
        """Read what there is now (or report what a thread has read); all read so far."""

    def close(self) -> None: ...


HeldSave = Callable[[Kennel, Dog], contextlib.AbstractContextManager[None]]
"""Saves a dog in a transaction that commits when the context ends."""


def _retry(action: Callable[[], Any], seconds: float = 30.0) -> Any:
    """`action`, again until the server answers (it may be coming back up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _consume_until(consumer: Consumer, expected: list[UUID], seconds: float = 10.0) -> list[UUID]:
    deadline = time.monotonic() + seconds
    while True:
        read = _retry(consumer.consume)
        if read == expected or time.monotonic() > deadline:
            return list(read)
        time.sleep(0.05)


def committed_log(env: dict[str, str]) -> list[UUID]:
    """Every committed event's originator, in log order, as a new application reads it."""
    with Kennel(env=env) as fresh:
        return [n.originator_id for n in fresh.recorder.select_notifications(None, 1000)]


def run(
    env: dict[str, str],
    consumer: Consumer,
    crash_and_start: Callable[[], None],
    held_save: HeldSave,
) -> None:
    """The scenario above; raises AssertionError if the consumer skipped an event."""
    with Kennel(env=env) as writer:
        fido = Dog("Fido")
        writer.save(fido)
        stale = writer.repository.get(fido.id)
        fresh = writer.repository.get(fido.id)
        fresh.add_trick("sit")
        writer.save(fresh)
        assert _consume_until(consumer, [fido.id, fido.id]) == [fido.id, fido.id]

        # From here until the crash nothing commits, so nothing flushes the sequence.
        for i in range(40):
            stale.add_trick(f"trick {i}")
        try:
            writer.save(stale)
        except ConcurrencyError:
            pass
        else:
            raise AssertionError("the stale save was not refused")
        time.sleep(SETTLE_SECONDS)  # the consumer reads again: nothing new, horizon above 42
        assert _retry(consumer.consume) == [fido.id, fido.id]

        crash_and_start()

        rex, bolt = Dog("Rex"), Dog("Bolt")
        with held_save(writer, rex):
            _retry(lambda: writer.save(bolt))
            time.sleep(SETTLE_SECONDS)
            read = _retry(consumer.consume)
            assert bolt.id not in read, "read past a save in flight"
        expected = committed_log(env)
        assert expected == [fido.id, fido.id, rex.id, bolt.id], expected
        read = _consume_until(consumer, expected)
        assert read == expected, f"the consumer read {read}, the log is {expected}"


class InThread:
    """A consumer whose reading runs in a thread: `consume` reports what it has read."""

    def __init__(self, follow: Callable[[Callable[[UUID], None], threading.Event], None]):
        self._read: list[UUID] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.errors: list[BaseException] = []

        def target() -> None:
            try:
                follow(self._append, self._stop)
            except BaseException as error:  # reported by consume
                self.errors.append(error)

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def _append(self, originator_id: UUID) -> None:
        with self._lock:
            self._read.append(originator_id)

    def consume(self) -> list[UUID]:
        assert not self.errors, self.errors
        with self._lock:
            return list(self._read)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Reader:
    """A long-lived recorder read from the last position, as a follower's reader does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.app = Kennel(env=env)
        self._read: list[UUID] = []
        self._position = 0

    def consume(self) -> list[UUID]:
        page = self.app.recorder.select_notifications(self._position + 1, 100)
        for notification in page:
            assert notification.id > self._position
            self._position = notification.id
            self._read.append(notification.originator_id)
        return list(self._read)

    def close(self) -> None:
        self.app.close()


def subscription(env: dict[str, str]) -> InThread:
    """A subscription to the log, iterated in a thread; when the database goes away, a
    new subscription reads on from the last position (as a user's loop would)."""
    app = Kennel(env=env)

    def follow(append: Callable[[UUID], None], stop: threading.Event) -> None:
        position = 0
        with app:
            while not stop.is_set():
                with app.recorder.subscribe(gt=position) as notifications:
                    stopper = threading.Thread(
                        target=lambda: (stop.wait(), notifications.stop()), daemon=True
                    )
                    stopper.start()
                    try:
                        for notification in notifications:
                            append(notification.originator_id)
                            position = notification.id
                    except OperationalError:
                        time.sleep(0.1)

    return InThread(follow)


@contextlib.contextmanager
def closing_all(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            with contextlib.suppress(Exception):
                thing.close()


class Tally(ProcessApplication):
    """A follower that notes each upstream event it processes, by position."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.seen: dict[int, UUID] = {}

    def policy(self, domain_event: DomainEvent, processing_event: ProcessingEvent) -> None:
        self.seen[processing_event.tracking.notification_id] = domain_event.originator_id


class Follower:
    """A process application pulling from a long-lived leader, as a worker does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.leader = Kennel(env=env)
        self.tally = Tally(env)
        self.tally.follow(self.leader.name, self.leader.notification_log)

    def consume(self) -> list[UUID]:
        self.tally.pull_and_process(self.leader.name)
        return [self.tally.seen[position] for position in sorted(self.tally.seen)]

    def close(self) -> None:
        self.tally.close()
        self.leader.close()


class Noted(Projection[Any]):
    """Notes each event it projects; the view records the tracking position."""

    noted: ClassVar[dict[int, UUID]] = {}

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)
        self.noted[tracking.notification_id] = domain_event.originator_id


class Projected:
    """A projection runner following the log live, in its thread."""

    def __init__(self, env: dict[str, str], view_class: type[TrackingRecorder]) -> None:
        Noted.noted.clear()
        self.runner = ProjectionRunner(Kennel, Noted, view_class, env=env)
        self.runner.start()

    def consume(self) -> list[UUID]:
        assert not self.runner.errors, self.runner.errors
        noted = dict(Noted.noted)
        return [noted[position] for position in sorted(noted)]

    def close(self) -> None:
        self.runner.stop()
