"""Every error retell raises, in one hierarchy.

Catch `RetellError` to catch them all. Persistence errors carry the DB-API names
whatever the store underneath (memory, SQLite, PostgreSQL, Django), so code that
handles `OperationalError` works the same on each of them:

```text
    RetellError
    ├── ConfigurationError          a bad env key, an unknown PERSISTENCE_MODULE
    │   └── SnapshottingNotEnabled      take_snapshot() without snapshots (also an AssertionError)
    ├── TopicError                  a topic that names no importable class
    ├── AggregateNotFound           no aggregate with that id (also a LookupError)
    ├── EventError                  an event that cannot be applied (wrong id or version)
    │   ├── OriginatorIDError           the event belongs to another aggregate
    │   ├── OriginatorVersionError      the event is not the aggregate's next version
    │   └── AggregateDefinitionError    a class or @event that cannot work (also a TypeError)
    │       └── EventNameError          a name that cannot name a class (also a ValueError)
    ├── ArgumentError               arguments an aggregate class does not take (also a TypeError)
    ├── TranscodingError            a value that cannot be encoded, or bytes that cannot be decoded
    ├── CipherError                 a wrong key, or a record whose bytes were tampered with
    ├── WaitTimeout                 waiting for a position that did not arrive in time
    │   └── WaitInterruptedError        the wait was interrupted (its runner stopped or failed)
    ├── SystemDefinitionError       a System whose pipes do not make sense (a cycle, say)
    ├── RunnerError                 a runner used wrongly (started twice, unknown application)
    │   └── RunnerAlreadyStartedError   start() on a runner that is started
    ├── PolicyError                 a process application's policy raised (names the event)
    └── PersistenceError
        ├── InterfaceError          the store's client library was used wrongly
        └── DatabaseError
            ├── DataError
            ├── OperationalError    the server is unreachable, restarted, timed out...
            ├── IntegrityError
            │   └── ConcurrencyError    another writer saved that aggregate version first
            ├── InternalError
            ├── ProgrammingError    e.g. a table is missing
            └── NotSupportedError
```

Messages say what went wrong and what to do about it: which aggregate and version,
which table is missing and which command creates it, which key is wrong.

The `eventsourcing` library's names for the same errors are other names of these
classes, so that its users' ``except`` clauses keep working: `EventSourcingError`
(`RetellError`), `AggregateNotFoundError` (`AggregateNotFound`),
`EventProcessingError` (`PolicyError`), `RecordConflictError` (`IntegrityError`),
`TranscodingNotRegisteredError` (`TranscodingError`).

Where the `eventsourcing` library raises a built-in exception for the same mistake
(`TypeError` for an aggregate class or `@event` used wrongly, `ValueError` for an
empty event name, `AssertionError` for `take_snapshot()` without snapshots), retell's
error subclasses that built-in too, so code that catches it keeps working.
"""

from __future__ import annotations


class RetellError(Exception):
    """The base of every error raised by retell."""


class ConfigurationError(RetellError):
    """An environment key has a value retell cannot use."""


class SnapshottingNotEnabled(ConfigurationError, AssertionError):
    """`take_snapshot()` on an application that does not take snapshots.

    An `AssertionError` too, which is what the `eventsourcing` library raises.
    """


class TopicError(RetellError):
    """A topic (``package.module:QualifiedName``) does not resolve to a class."""


class AggregateNotFound(RetellError, LookupError):
    """The repository has no aggregate with the requested id (or not at that version)."""


class EventError(RetellError):
    """An event cannot be applied to the aggregate it is given."""


class OriginatorIDError(EventError):
    """An event was applied to an aggregate it does not belong to (another id)."""


class OriginatorVersionError(EventError):
    """An event was applied to an aggregate at another version than the one it follows."""


class AggregateDefinitionError(EventError, TypeError):
    """An aggregate class, or an ``@event`` on one, cannot work as written or was used wrongly.

    Also a `TypeError`, which is what the `eventsourcing` library raises for these.
    """


class EventNameError(AggregateDefinitionError, ValueError):
    """An ``@event`` name that cannot name an event class; also a `ValueError`, as elsewhere."""


class ArgumentError(RetellError, TypeError):
    """An aggregate class was called with arguments it does not take.

    Also a `TypeError`, which is what Python raises for such calls to plain functions.
    """


class TranscodingError(RetellError):
    """A value cannot be turned into bytes, or stored bytes cannot be turned back."""


class CipherError(RetellError):
    """Stored bytes cannot be decrypted: the key is wrong or the record was altered."""


class WaitTimeout(RetellError, TimeoutError):
    """A wait for a tracking or notification position ran out of time."""


class WaitInterruptedError(WaitTimeout):
    """A wait ended early because its `interrupt` was set (its runner stopped or failed).

    A `WaitTimeout` too: either way the position was not processed in the wait.
    """


class SystemDefinitionError(RetellError):
    """A System's pipes do not describe a valid flow of events between applications."""


class RunnerError(RetellError):
    """A runner was used wrongly: started twice, or asked for an application it lacks."""


class RunnerAlreadyStartedError(RunnerError):
    """``start()`` was called on a runner that is started already: ``stop()`` it first."""


class PolicyError(RetellError):
    """A follower's policy raised while processing an upstream event.

    Nothing the policy did was recorded; the follower's position stays before the
    event, so it is processed again once the cause is fixed.

    ``args[0]`` is the policy's error as text, as in the `eventsourcing` library's
    `EventProcessingError`; ``str()`` also says which follower, leader, position and
    event.
    """

    def __init__(
        self, follower: str, leader: str, position: int, event: object, cause: BaseException
    ) -> None:
        self.follower = follower
        self.leader = leader
        self.position = position
        self.event = event
        self.message = (
            f"{follower} failed to process position {position} of {leader} "
            f"({type(event).__qualname__}): {type(cause).__name__}: {cause}"
        )
        super().__init__(str(cause))

    def __str__(self) -> str:
        return self.message


class PersistenceError(RetellError):
    """A store failed to record or retrieve something."""

    outcome_unknown: bool = False
    """True when a write may or may not have been recorded (its connection was lost after
    it was sent, and the store could not find out): read it back to see."""


class InterfaceError(PersistenceError):
    """The store's database interface was used wrongly (for example, a closed connection)."""


class DatabaseError(PersistenceError):
    """The database reported an error."""


class DataError(DatabaseError):
    """A value did not fit the column it was written to."""


class OperationalError(DatabaseError):
    """The database is unreachable, restarting, out of resources, or timed out."""


class IntegrityError(DatabaseError):
    """A write would break a uniqueness or consistency rule of the store."""


class ConcurrencyError(IntegrityError):
    """Another writer recorded an event at the same aggregate version first.

    Get the aggregate again from the repository and retry the command.
    """

    @classmethod
    def version_taken(cls, originator_id: object, originator_version: int) -> ConcurrencyError:
        """The error every store raises when a save finds a version already recorded."""
        return cls(
            f"aggregate {originator_id} already has a version {originator_version}: it was "
            "changed since it was read. Get it again and retry."
        )


def tracking_not_higher(application_name: str, position: int, last: int | None) -> IntegrityError:
    """The error every store raises for a tracking position at or below the recorded one."""
    return IntegrityError(
        f"position {position} of {application_name!r} is at or below the last one processed "
        f"({last}): it was processed already."
    )


class InternalError(DatabaseError):
    """The database reported an internal inconsistency."""


class ProgrammingError(DatabaseError):
    """The SQL or schema is wrong for this database, for example a missing table."""


class NotSupportedError(DatabaseError):
    """The store does not support what was asked of it."""


# The `eventsourcing` library's names for the same errors, so that its users'
# ``except`` clauses catch what retell raises.
EventSourcingError = RetellError
AggregateNotFoundError = AggregateNotFound
EventProcessingError = PolicyError
RecordConflictError = IntegrityError
TranscodingNotRegisteredError = TranscodingError
