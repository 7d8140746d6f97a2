"""The Django store's factory: recorders on one ``DATABASES`` alias, made on demand.

Making the factory checks the configuration (Django set up, the alias known) but
touches no table, so an application can be constructed before ``migrate`` has run,
in ``AppConfig.ready()`` say. There, while Django loads the apps, an unknown alias or
an unusable key is not raised but kept for the system checks (``retell.E002``,
``retell.E003``) and raised on first use: raised in ``ready()``, it would stop every
command, ``manage.py check`` included, before the check could name it. The
recorders' module is imported only here, when a recorder is made, which keeps
``import retell.django`` free of Django's model machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retell.cipher import Cipher
from retell.compressor import Compressor
from retell.config import Environment
from retell.django import conf, tables
from retell.errors import ConfigurationError
from retell.persistence.factory import InfrastructureFactory, Purpose, T
from retell.persistence.ids import KEY, IdType, originator_id_type
from retell.persistence.leases import Lease
from retell.persistence.recorders import TrackingRecorder

if TYPE_CHECKING:
    from retell.django.dialects.base import IdCodec
    from retell.django.recorders import (
        DjangoAggregateRecorder,
        DjangoApplicationRecorder,
        DjangoProcessRecorder,
    )


class Factory(InfrastructureFactory):
    """Makes recorders that keep the application `env.name`'s records in Django's database.

    ``ORIGINATOR_ID_TYPE`` (``uuid``, the default, or ``text``) says whether the
    application's ids are UUIDs or strs: the column is text for every application, and
    the setting says how ids read back (see `retell.django.models`).
    """

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        conf.require_django()
        self.alias = self._alias(env)
        self.application_name = env.name
        self.originator_id_type: IdType = "uuid"
        self._id_type_error: ConfigurationError | None = None
        try:
            self.originator_id_type = originator_id_type(env)
        except ConfigurationError as error:
            self._defer("retell.E003", error)
            self._id_type_error = error  # raised when a recorder is made
        if len(env.name) > tables.NAME_LENGTH:
            raise ConfigurationError(
                f"the application name {env.name!r} is longer than the {tables.NAME_LENGTH} "
                "characters retell.django's tables hold: set a shorter `name` on the class."
            )

    def _alias(self, env: Environment) -> str:
        try:
            return conf.database_alias(env)
        except ConfigurationError as error:
            self._defer("retell.E002", error)
            # Unknown to Django: the recorders' first statement raises conf.unknown_alias.
            return env.get(conf.ALIAS_KEY, "").strip()

    def _defer(self, check_id: str, error: ConfigurationError) -> None:
        """Raise `error`, or while Django loads the apps keep it for ``manage.py check``."""
        if not conf.loading():
            raise error
        conf.defer(check_id, self.env.name, error)

    def _cipher(self) -> Cipher | None:
        try:
            return super()._cipher()
        except ConfigurationError as error:
            self._defer("retell.E003", error)
            return _Unusable(error)

    def _compressor(self) -> Compressor | None:
        try:
            return super()._compressor()
        except ConfigurationError as error:
            self._defer("retell.E003", error)
            return _Unusable(error)

    def aggregate_recorder(self, purpose: Purpose = "events") -> DjangoAggregateRecorder:
        from retell.django.recorders import DjangoAggregateRecorder

        table = tables.SNAPSHOTS if purpose == "snapshots" else tables.EVENTS
        return DjangoAggregateRecorder(
            self.alias, self.application_name, table, id_codec=self._id_codec()
        )

    def application_recorder(self) -> DjangoApplicationRecorder:
        from retell.django.recorders import DjangoApplicationRecorder

        return DjangoApplicationRecorder(
            self.alias, self.application_name, id_codec=self._id_codec()
        )

    def _id_codec(self) -> IdCodec:
        from retell.django.dialects.base import IdCodec

        if self._id_type_error is not None:
            raise ConfigurationError(str(self._id_type_error))
        return IdCodec(self.originator_id_type, self.env.describe(KEY))

    def tracking_recorder(self, recorder_class: type[T] | None = None) -> T | TrackingRecorder:
        from retell.django.recorders import DjangoTrackingRecorder

        if recorder_class is None:
            return DjangoTrackingRecorder(self.alias, self.application_name)
        self.check_view_class(recorder_class, DjangoTrackingRecorder)
        view: T = recorder_class(self.alias, self.application_name)  # type: ignore[call-arg]
        return view

    def process_recorder(self) -> DjangoProcessRecorder:
        from retell.django.recorders import DjangoProcessRecorder

        return DjangoProcessRecorder(self.alias, self.application_name, id_codec=self._id_codec())

    def lease(self, name: str) -> Lease:
        """A lease that dies with its holder: see `retell.django.leases` for each database."""
        from retell.django.leases import lease

        return lease(self.alias, name)


class _Unusable:
    """A cipher or compressor whose setting was wrong: raises the setting's error when used."""

    def __init__(self, error: ConfigurationError) -> None:
        self.error = error

    def _raise(self, data: bytes) -> bytes:
        raise ConfigurationError(str(self.error))

    encrypt = decrypt = compress = decompress = _raise
