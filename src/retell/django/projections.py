"""Projections into Django models: a view's tables are your models, written with the ORM.

The pattern, in two classes:

- `DjangoView`: the view, a `DjangoTrackingRecorder` that lists the `models` it
  owns. Its tracking positions live in ``retell_tracking`` on the same alias, so
  the ORM writes and the position commit in one transaction. Add query methods
  for the pages that read it, if you like.
- `DjangoProjection`: implement `handle(domain_event)` with ordinary ORM writes
  (``.using(self.alias)``). `process_event` runs it inside
  ``transaction.atomic(using=alias)`` after recording the event's position, so an
  event is applied exactly once: a crash before the commit loses both, and a
  position recorded already is refused before `handle` runs. `process_events` does
  the same for a run of up to `batch_size` events (one commit for the run), and falls
  back to one transaction per event when the run fails, to keep what came before a
  failing event and to name it.

Why the position first: the refusal then costs nothing (no write is made and
undone), and on SQLite the transaction's first statement takes the write lock, so
two runners never interleave. A refused position means another runner got there
first, and is skipped quietly, as a follower skips one.

Rebuilding (`ProjectionRunner.rebuild`, ``manage.py rebuild_projection``) calls
`reset_view`, which deletes every row of the view's models and its positions in
one transaction, then replays the log. docs/django-projections.md has the whole
story, with a leaderboard as the example.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, TypeVar

from django.db import models

from retell.django.models import TrackingRecord
from retell.django.recorders import DjangoTrackingRecorder, PositionRefused
from retell.domain.events import DomainEvent
from retell.errors import PolicyError
from retell.persistence.records import Tracking
from retell.projection import Projection


class DjangoView(DjangoTrackingRecorder):
    """A view whose tables are the Django models `models`, on the store's alias.

    List every model the projection writes: `reset` empties them all, in reverse
    order (list a model after the models it refers to).
    """

    models: ClassVar[Sequence[type[models.Model]]] = ()

    def reset(self) -> None:
        """Delete every row of `models` and every position of this view, in one transaction."""
        with self.transaction():
            for model in reversed(self.models):
                model._default_manager.using(self.alias).all().delete()
            TrackingRecord.objects.using(self.alias).filter(
                application_name=self.application_name
            ).delete()


DV = TypeVar("DV", bound=DjangoView)


class DjangoProjection(Projection[DV]):
    """Writes an application's events into Django models, each event exactly once.

    Subclasses implement `handle`; dispatch on the event class with
    ``functools.singledispatchmethod``, as a process application's policy does.
    A run of up to `batch_size` events is applied in one transaction.
    """

    batch_size: ClassVar[int] = 100

    @property
    def alias(self) -> str:
        """The ``DATABASES`` alias of the view: write with ``Model.objects.using(self.alias)``."""
        return self.view.alias

    @abstractmethod
    def handle(self, domain_event: DomainEvent) -> None:
        """Apply one event to the view's models (the transaction is open already)."""

    def process_event(self, domain_event: DomainEvent, tracking: Tracking) -> None:
        """Record `tracking`, then `handle` the event, in one transaction.

        A failure of `handle` rolls both back and raises a `PolicyError` naming the
        projection, the position and the event; the view stays before the event.
        """
        view = self.view
        try:
            with view.transaction():
                view.insert_tracking(tracking)
                try:
                    self.handle(domain_event)
                except Exception as error:
                    raise PolicyError(
                        self.name,
                        tracking.application_name,
                        tracking.notification_id,
                        domain_event,
                        error,
                    ) from error
        except PositionRefused:
            if view.has_tracking_id(tracking.application_name, tracking.notification_id):
                return  # processed already, by another runner: nothing to do
            raise

    def process_events(self, events: Sequence[tuple[DomainEvent, Tracking]]) -> None:
        """Apply a run of events in one transaction, with its last position.

        If that fails (an event's `handle` raised, or another runner recorded some of
        these positions first), it is all rolled back, and the events are applied one
        transaction each instead: those before a failing event are kept, the failure is
        a `PolicyError` naming its event, and positions recorded already are skipped.
        """
        if len(events) > 1:
            last = events[-1][1]
            run = Tracking(
                last.application_name, last.notification_id, first_id=events[0][1].notification_id
            )
            view = self.view
            try:
                with view.transaction():
                    view.insert_tracking(run)
                    for domain_event, _ in events:
                        self.handle(domain_event)
                return
            except Exception:
                pass
        super().process_events(events)

    def reset_view(self) -> None:
        """Empty the view's models and forget its positions, for a rebuild."""
        self.view.reset()
