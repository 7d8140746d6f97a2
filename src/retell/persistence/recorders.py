"""The interfaces every store implements, and the behaviour they share.

A store is a module (named by ``PERSISTENCE_MODULE``) whose ``Factory`` makes
recorders. `retell.testing` holds the conformance suite that a store must pass:
what each method promises is spelled out there as tests.

- `AggregateRecorder`: events by aggregate and version (also used for snapshots).
- `ApplicationRecorder`: also gives every event a position in one log, the
  notification log, read by position and followed live by `subscribe`.
- `TrackingRecorder`: how far a follower has processed each leader's log.
- `ProcessRecorder`: both, recording new events and a tracking position in one
  transaction, which is what makes processing exactly-once.
"""

from __future__ import annotations

import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Self
from uuid import UUID

from retell.errors import NotSupportedError, WaitInterruptedError, WaitTimeout
from retell.persistence.records import Notification, StoredEvent, Tracking


class Recorder(ABC):  # noqa: B024 (close() is an optional hook, not abstract)
    """Anything that holds a store's resources."""

    def close(self) -> None:
        """Release connections and threads. The default has nothing to release."""


class AggregateRecorder(Recorder):
    """Records events, each at a unique (originator_id, originator_version).

    Ids are UUIDs or strs (`retell.persistence.ids`). A store that keeps one type only
    raises `DataError` for the other, before it writes anything; reads give ids back
    as the store keeps them.
    """

    @abstractmethod
    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        """Record all of `stored_events` or none of them.

        Raises `ConcurrencyError` if any (originator_id, originator_version) is taken.
        Application recorders return the notification ids given to the events, in order.
        """

    @abstractmethod
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """The aggregate's events with gt < version <= lte, by version (descending if `desc`)."""


class ApplicationRecorder(AggregateRecorder):
    """An aggregate recorder whose events also form the application's notification log.

    The log's promise: positions are unique and strictly increasing in the order a
    reader reads them, and a reader that has read position p never later finds a
    new event at a position at or below p.
    """

    def __init__(self) -> None:
        super().__init__()
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._subscriptions_lock = threading.Lock()
        self._ever_subscribed = False  # checked on every save: cheaper than len(WeakSet)

    @abstractmethod
    def insert_events(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        """Record the events atomically and return their notification ids, in order."""

    @abstractmethod
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        """Up to `limit` notifications from position `start` (None: the first) to `stop`
        inclusive, in order, only of `topics` if any are given."""

    @abstractmethod
    def max_notification_id(self) -> int | None:
        """The highest position a reader can see now; None while the log is empty."""

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription:
        """Iterate over notifications after position `gt`, now and as they are recorded.

        The iteration blocks for new notifications until `Subscription.stop()`.
        """
        subscription = Subscription(self, gt, topics)
        with self._subscriptions_lock:
            self._subscriptions.add(subscription)
            self._ever_subscribed = True
        return subscription

    def notify_subscribers(self) -> None:
        """Wake this process's subscriptions: call it after a commit that added events."""
        if not self._ever_subscribed:
            return
        with self._subscriptions_lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.wake()


class Subscription(Iterator[Notification]):
    """Notifications after a position, read in pages and then followed as they arrive.

    The recorder wakes it (`wake`) when this process commits new events; a store whose
    writers may be other processes wakes it from the database (PostgreSQL: LISTEN).
    Polling every `poll_interval` seconds covers anything that wakes nobody. The wake
    flag is cleared before each read, so an event committed during the read is
    never slept through.
    """

    page_size = 500

    def __init__(
        self,
        recorder: ApplicationRecorder,
        gt: int | None,
        topics: Sequence[str],
        poll_interval: float = 1.0,
    ) -> None:
        self._recorder = recorder
        self._last = gt or 0
        self._topics = tuple(topics)
        self._poll_interval = poll_interval
        self._buffer: deque[Notification] = deque()
        self._news = threading.Event()
        self._stopped = False

    @property
    def position(self) -> int:
        """The position of the last notification returned (or the starting `gt`)."""
        return self._last

    def wake(self) -> None:
        self._news.set()

    def stop(self) -> None:
        """End the iteration: a blocked `next()` returns promptly with StopIteration."""
        self._stopped = True
        self._news.set()

    def __next__(self) -> Notification:
        while not self._buffer:
            if self._stopped:
                raise StopIteration
            self._news.clear()
            page = self._recorder.select_notifications(
                self._last + 1, self.page_size, topics=self._topics
            )
            if page:
                self._buffer.extend(page)
            else:
                self._news.wait(self._poll_interval)
        notification = self._buffer.popleft()
        self._last = notification.id
        return notification

    def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less if stopped meanwhile; whether it was stopped."""
        deadline = time.monotonic() + seconds
        while not self._stopped and (left := deadline - time.monotonic()) > 0:
            self._news.wait(left)
            self._news.clear()
        return self._stopped

    def rewind(self, position: int | None) -> None:
        """Read on from after `position`, forgetting what was read beyond it: after a
        failure, from the position a follower last recorded."""
        self._buffer.clear()
        self._last = position or 0

    def take(self) -> list[Notification]:
        """The next notification and every other one already read: waits like `next`,
        and returns an empty list once stopped.

        A follower that has fallen behind gets a page at a time, to record together.
        """
        try:
            taken = [next(self)]
        except StopIteration:
            return []
        if self._buffer:
            taken += self._buffer
            self._buffer.clear()
            self._last = taken[-1].id
        return taken

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class TrackingRecorder(Recorder):
    """Records, per leader application, the last position a follower has processed.

    Positions only move forward: recording a position at or below the current one
    raises `IntegrityError`, which is how a second attempt at processing the same
    event is refused.
    """

    @abstractmethod
    def insert_tracking(self, tracking: Tracking) -> None:
        """Record that `tracking.notification_id` of `tracking.application_name` is done."""

    @abstractmethod
    def max_tracking_id(self, application_name: str) -> int | None:
        """The last position processed of the leader's log; None if nothing was."""

    def delete_tracking(self, application_name: str) -> None:
        """Forget the position in `application_name`'s log (to rebuild a view from scratch)."""
        raise NotSupportedError(f"{type(self).__name__} cannot delete tracking positions")

    def has_tracking_id(self, application_name: str, notification_id: int | None) -> bool:
        """Whether the position has been processed (None means nothing to process: True)."""
        if notification_id is None:
            return True
        last = self.max_tracking_id(application_name)
        return last is not None and last >= notification_id

    def wait(
        self,
        application_name: str,
        notification_id: int | None,
        timeout: float = 1.0,
        interrupt: threading.Event | None = None,
    ) -> None:
        """Block until the position has been processed; `WaitTimeout` after `timeout` seconds,
        `WaitInterruptedError` (a `WaitTimeout`) as soon as `interrupt` is set."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not self.has_tracking_id(application_name, notification_id):
            remaining = deadline - time.monotonic()
            if interrupt is not None and interrupt.is_set():
                raise WaitInterruptedError(
                    f"the wait for position {notification_id} of {application_name!r} was "
                    f"interrupted (last processed: {self.max_tracking_id(application_name)})."
                )
            if remaining <= 0:
                raise WaitTimeout(
                    f"position {notification_id} of {application_name!r} was not processed "
                    f"within {timeout} seconds (last processed: "
                    f"{self.max_tracking_id(application_name)})."
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.1)


class ProcessRecorder(ApplicationRecorder, TrackingRecorder):
    """Records a follower's new events and its tracking position in one transaction."""

    @abstractmethod
    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, tracking: Tracking | None = None
    ) -> Sequence[int]:
        """Record the events and the tracking position atomically; both or neither."""
