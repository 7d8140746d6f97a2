"""Finding and building a store from ``PERSISTENCE_MODULE``.

A store is any importable module with a ``Factory`` attribute: a subclass of
`InfrastructureFactory`. That is the whole plugin interface, so a third party's
store is configured exactly like ours.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any, Literal, TypeVar

from retell.cipher import AESCipher, Cipher
from retell.compressor import Compressor
from retell.config import Environment
from retell.errors import ConfigurationError, TopicError
from retell.persistence.leases import Lease, ProcessLocalLease
from retell.persistence.mapper import Mapper
from retell.persistence.recorders import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from retell.persistence.transcoder import Transcoder
from retell.topics import get_topic, resolve_topic

BUILT_IN_STORES = ("retell.memory", "retell.sqlite", "retell.postgres", "retell.django")
_EXTRAS = {"retell.postgres": "postgres", "retell.django": "django"}

Purpose = Literal["events", "snapshots"]
T = TypeVar("T", bound=TrackingRecorder)


class InfrastructureFactory(ABC):
    """Makes a store's recorders, and the mapper the environment asks for."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    @staticmethod
    def construct(env: Environment) -> InfrastructureFactory:
        """The factory of the store named by ``PERSISTENCE_MODULE`` (default: memory)."""
        name = env.get("PERSISTENCE_MODULE", "").strip() or "retell.memory"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is not None and name.startswith(error.name):
                raise ConfigurationError(
                    f"{env.describe('PERSISTENCE_MODULE')}={name!r}: there is no such module. "
                    f"The built-in stores are {', '.join(BUILT_IN_STORES)}."
                ) from None
            extra = _EXTRAS.get(name)
            hint = f" Install it with: pip install 'retell[{extra}]'." if extra else ""
            raise ConfigurationError(
                f"{env.describe('PERSISTENCE_MODULE')}={name!r} needs the package "
                f"{error.name!r}, which is not installed.{hint}"
            ) from error
        factory_class: Any = getattr(module, "Factory", None)
        is_factory = isinstance(factory_class, type) and issubclass(
            factory_class, InfrastructureFactory
        )
        if not is_factory:
            raise ConfigurationError(
                f"{env.describe('PERSISTENCE_MODULE')}={name!r}: the module has no Factory "
                "(a subclass of retell.persistence.InfrastructureFactory), so it is not a store."
            )
        factory: InfrastructureFactory = factory_class(env)
        return factory

    def transcoder(self) -> Transcoder:
        """The transcoder; ``TRANSCODER_STRICT=y`` refuses values not of their fields' types."""
        return Transcoder(strict=self.env.get_bool("TRANSCODER_STRICT", False))

    def mapper(self, transcoder: Transcoder) -> Mapper:
        """A mapper with the compressor and cipher that the environment names."""
        return Mapper(transcoder, self._compressor(), self._cipher())

    def _compressor(self) -> Compressor | None:
        topic = self.env.get("COMPRESSOR_TOPIC", "").strip()
        if not topic:
            return None
        compressor: Compressor = self._construct_topic("COMPRESSOR_TOPIC", topic)
        return compressor

    def _cipher(self) -> Cipher | None:
        topic = self.env.get("CIPHER_TOPIC", "").strip()
        key = self.env.get("CIPHER_KEY", "").strip()
        if not key:
            if topic:
                raise ConfigurationError(
                    f"{self.env.describe('CIPHER_TOPIC')} is set but CIPHER_KEY is not: set "
                    "CIPHER_KEY (make one with AESCipher.create_key(32))."
                )
            return None
        cipher: Cipher = self._construct_topic("CIPHER_TOPIC", topic or get_topic(AESCipher), key)
        return cipher

    def _construct_topic(self, key: str, topic: str, *args: Any) -> Any:
        try:
            cls = resolve_topic(topic)
        except TopicError as error:
            raise ConfigurationError(f"{self.env.describe(key)}={topic!r}: {error}") from error
        if isinstance(cls, ModuleType):
            # A module can serve as it is: COMPRESSOR_TOPIC=zlib, as the reference allows.
            if args or not all(callable(getattr(cls, f, None)) for f in ("compress", "decompress")):
                raise ConfigurationError(
                    f"{self.env.describe(key)}={topic!r} names a module, not a class: name the "
                    "class, as in 'package.module:ClassName'"
                )
            return cls
        return cls(*args)

    def is_snapshotting_enabled(self) -> bool:
        return self.env.get_bool("IS_SNAPSHOTTING_ENABLED", False)

    @abstractmethod
    def aggregate_recorder(self, purpose: Purpose = "events") -> AggregateRecorder:
        """A recorder of events by aggregate (snapshots use one with purpose 'snapshots')."""

    @abstractmethod
    def application_recorder(self) -> ApplicationRecorder: ...

    @abstractmethod
    def tracking_recorder(self, recorder_class: type[T] | None = None) -> T | TrackingRecorder:
        """A tracking recorder; `recorder_class` (a view) must subclass this store's own."""

    @staticmethod
    def check_view_class(recorder_class: type, store_class: type) -> None:
        """Refuse a view written for another store, with a message that says so."""
        if not issubclass(recorder_class, store_class):
            raise ConfigurationError(
                f"{recorder_class.__qualname__} is not a {store_class.__qualname__}: a view "
                f"must subclass the tracking recorder of the store it runs on "
                f"({store_class.__module__}.{store_class.__qualname__})."
            )

    @abstractmethod
    def process_recorder(self) -> ProcessRecorder: ...

    def lease(self, name: str) -> Lease:
        """A lease that lets one worker at a time run the follower `name`.

        The default is exclusive within this process only; stores whose data other
        processes share override it.
        """
        return ProcessLocalLease(name)

    def close(self) -> None:
        """Release what the factory holds (connection pools). The default holds nothing."""
