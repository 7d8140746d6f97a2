"""Leases: the exclusive right to run one follower, held by one process at a time.

Workers in several processes (or on several machines) may run the same system;
each follower must be active in exactly one of them. A store that can coordinate
processes gives out leases that die with the process that holds them (PostgreSQL:
a session advisory lock; SQLite: a lock on a file), so a standby takes over as soon
as the active worker dies, with no timeout to tune and no stale lock to clear.
"""

from __future__ import annotations

import fcntl
import os
import threading
from abc import ABC, abstractmethod
from typing import ClassVar


class Lease(ABC):
    """One named lease. `acquire` never blocks: a standby asks again later."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def acquire(self) -> bool:
        """Take the lease if it is free; True if this object now holds it."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up (harmless if not held)."""

    def is_held(self) -> bool:
        """Whether the lease is still ours: False once, say, its connection was lost."""
        return True


class ProcessLocalLease(Lease):
    """Exclusive among the threads of one process only: for stores that live in one."""

    _held: ClassVar[set[str]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._mine = False

    def acquire(self) -> bool:
        with self._lock:
            if self._mine or self.name not in self._held:
                self._held.add(self.name)
                self._mine = True
        return self._mine

    def release(self) -> None:
        with self._lock:
            if self._mine:
                self._held.discard(self.name)
                self._mine = False

    def is_held(self) -> bool:
        return self._mine


class FileLease(Lease):
    """An exclusive ``flock`` on a file: for processes sharing one machine (SQLite).

    The kernel releases the lock when the holding process dies, however it dies.
    """

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def is_held(self) -> bool:
        return self._fd is not None
