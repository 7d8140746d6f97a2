"""The Django store's factory: recorders on one ``DATABASES`` alias, made on demand.

Making the factory checks the configuration (Django set up, the alias known) but
touches no table, so an application can be constructed before ``migrate`` has run,
in ``AppConfig.ready()`` say. The recorders' module is imported only here, when a
recorder is made, which keeps ``import retell.django`` free of Django's model
machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retell.config import Environment
from retell.django import conf, tables
from retell.errors import ConfigurationError
from retell.persistence.factory import InfrastructureFactory, Purpose, T
from retell.persistence.leases import Lease
from retell.persistence.recorders import TrackingRecorder

if TYPE_CHECKING:
    from retell.django.recorders import (
        DjangoAggregateRecorder,
        DjangoApplicationRecorder,
        DjangoProcessRecorder,
    )


class Factory(InfrastructureFactory):
    """Makes recorders that keep the application `env.name`'s records in Django's database."""

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        conf.require_django()
        self.alias = conf.database_alias(env)
        self.application_name = env.name
        if len(env.name) > tables.NAME_LENGTH:
            raise ConfigurationError(
                f"the application name {env.name!r} is longer than the {tables.NAME_LENGTH} "
                "characters retell.django's tables hold: set a shorter `name` on the class."
            )

    def aggregate_recorder(self, purpose: Purpose = "events") -> DjangoAggregateRecorder:
        from retell.django.recorders import DjangoAggregateRecorder

        table = tables.SNAPSHOTS if purpose == "snapshots" else tables.EVENTS
        return DjangoAggregateRecorder(self.alias, self.application_name, table)

    def application_recorder(self) -> DjangoApplicationRecorder:
        from retell.django.recorders import DjangoApplicationRecorder

        return DjangoApplicationRecorder(self.alias, self.application_name)

    def tracking_recorder(self, recorder_class: type[T] | None = None) -> T | TrackingRecorder:
        from retell.django.recorders import DjangoTrackingRecorder

        if recorder_class is None:
            return DjangoTrackingRecorder(self.alias, self.application_name)
        self.check_view_class(recorder_class, DjangoTrackingRecorder)
        view: T = recorder_class(self.alias, self.application_name)  # type: ignore[call-arg]
        return view

    def process_recorder(self) -> DjangoProcessRecorder:
        from retell.django.recorders import DjangoProcessRecorder

        return DjangoProcessRecorder(self.alias, self.application_name)

    def lease(self, name: str) -> Lease:
        """A lease that dies with its holder: see `retell.django.leases` for each database."""
        from retell.django.leases import lease

        return lease(self.alias, name)
