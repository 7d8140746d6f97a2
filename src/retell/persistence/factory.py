"""Finding and building a store from ``PERSISTENCE_MODULE``.

A store is any importable module with a ``Factory`` attribute: a subclass of
`InfrastructureFactory`. That is the whole plugin interface, so a third party's
store is configured exactly like ours.

The `eventsourcing` library's other keys work where they name retell's classes
(``INFRASTRUCTURE_FACTORY=retell.sqlite:Factory``, ``TRANSCODER_TOPIC``,
``MAPPER_TOPIC``); otherwise, and for its recorder topics, which retell does not
read, they are a `ConfigurationError` that says what to set instead, rather than
being ignored (and a store other than the one meant being used).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any, Literal, TypeVar

from retell.cipher import AESCipher, Cipher
from retell.compressor import Compressor
from retell.config import Environment, default_store
from retell.errors import ConfigurationError, TopicError
from retell.persistence.ids import KEY
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

# The `eventsourcing` library's keys that name a store's factory, after PERSISTENCE_MODULE.
_FACTORY_KEYS = ("INFRASTRUCTURE_FACTORY", "FACTORY_TOPIC")
# Its stores, and retell's.
_STORES = {
    "eventsourcing.popo": "retell.memory",
    "eventsourcing.sqlite": "retell.sqlite",
    "eventsourcing.postgres": "retell.postgres",
    "eventsourcing_django": "retell.django",
}
# Its keys that retell does not read, with what to do instead.
_UNREAD_KEYS = {
    "APPLICATION_RECORDER_TOPIC": "override construct_recorder() on the application",
    "PROCESS_RECORDER_TOPIC": "override construct_recorder() on the process application",
    "TRACKING_RECORDER_TOPIC": "give the view class to the ProjectionRunner",
}

Purpose = Literal["events", "snapshots"]
T = TypeVar("T", bound=TrackingRecorder)


class InfrastructureFactory(ABC):
    """Makes a store's recorders, and the mapper the environment asks for."""

    # The keys it reads, each its own name (as in the eventsourcing library), so that
    # ``os.environ[InfrastructureFactory.PERSISTENCE_MODULE] = "retell.sqlite"`` works.
    PERSISTENCE_MODULE = "PERSISTENCE_MODULE"
    TRANSCODER_TOPIC = "TRANSCODER_TOPIC"
    MAPPER_TOPIC = "MAPPER_TOPIC"
    CIPHER_TOPIC = "CIPHER_TOPIC"
    CIPHER_KEY = AESCipher.CIPHER_KEY
    COMPRESSOR_TOPIC = "COMPRESSOR_TOPIC"
    IS_SNAPSHOTTING_ENABLED = "IS_SNAPSHOTTING_ENABLED"
    ORIGINATOR_ID_TYPE = KEY
    CREATE_TABLE = "CREATE_TABLE"

    def __init__(self, env: Environment) -> None:
        self.env = env

    @staticmethod
    def construct(env: Environment) -> InfrastructureFactory:
        """The factory of the store named by ``PERSISTENCE_MODULE`` (default: memory, or
        a framework's store: `retell.config.default_store`).

        Or, as in the `eventsourcing` library, by ``INFRASTRUCTURE_FACTORY`` or
        ``FACTORY_TOPIC``: a store module or a factory class (``retell.sqlite:Factory``).
        """
        for key, instead in _UNREAD_KEYS.items():
            if env.get(key, "").strip():
                raise ConfigurationError(
                    f"{env.describe(key)} is set, but retell does not read it: {instead}, "
                    "and unset the key."
                )
        factory_class = _factory_class(env)
        factory: InfrastructureFactory = factory_class(env)
        return factory

    def transcoder(self) -> Transcoder:
        """The transcoder; ``TRANSCODER_STRICT=y`` refuses values not of their fields' types.

        ``TRANSCODER_TOPIC`` may name a subclass of `Transcoder` to use instead.
        """
        transcoder_class: type[Transcoder] = Transcoder
        topic = self.env.get(self.TRANSCODER_TOPIC, "").strip()
        if topic:
            transcoder_class = self._topic_class(
                "TRANSCODER_TOPIC",
                topic,
                Transcoder,
                "register your types in Application.register_transcodings() instead",
            )
        return transcoder_class(strict=self.env.get_bool("TRANSCODER_STRICT", False))

    def mapper(
        self, transcoder: Transcoder | None = None, mapper_class: type[Mapper] | None = None
    ) -> Mapper:
        """A mapper with the compressor and cipher that the environment names.

        ``MAPPER_TOPIC`` may name a subclass of `Mapper` to use; `mapper_class` wins.
        """
        if mapper_class is None:
            mapper_class = Mapper
            topic = self.env.get(self.MAPPER_TOPIC, "").strip()
            if topic:
                mapper_class = self._topic_class(
                    "MAPPER_TOPIC", topic, Mapper, "override Application.construct_mapper() instead"
                )
        if transcoder is None:
            transcoder = self.transcoder()
        return mapper_class(transcoder, self._compressor(), self._cipher())

    def _topic_class(self, key: str, topic: str, base: type[Any], instead: str) -> Any:
        """The subclass of `base` that `topic` names, or an error that says what to do."""
        if topic.startswith("eventsourcing"):
            raise ConfigurationError(
                f"{self.env.describe(key)}={topic!r} names the eventsourcing library's class: "
                f"{instead}, and unset {key}."
            )
        try:
            cls = resolve_topic(topic)
        except TopicError as error:
            raise ConfigurationError(
                f"{self.env.describe(key)}={topic!r}: {error} Or {instead}."
            ) from error
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ConfigurationError(
                f"{self.env.describe(key)}={topic!r} is not a subclass of "
                f"{base.__module__}.{base.__qualname__}: {instead}, or name such a subclass"
            )
        return cls

    @staticmethod
    def _module_factory(
        env: Environment, name: str, key: str = "PERSISTENCE_MODULE"
    ) -> type[InfrastructureFactory]:
        """The ``Factory`` of the store module `name`, which `key` names."""
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is not None and name.startswith(error.name):
                raise ConfigurationError(
                    f"{env.describe(key)}={name!r}: there is no such module. "
                    f"The built-in stores are {', '.join(BUILT_IN_STORES)}."
                ) from None
            extra = _EXTRAS.get(name)
            hint = f" Install it with: pip install 'retell[{extra}]'." if extra else ""
            raise ConfigurationError(
                f"{env.describe(key)}={name!r} needs the package "
                f"{error.name!r}, which is not installed.{hint}"
            ) from error
        factory_class: Any = getattr(module, "Factory", None)
        is_factory = isinstance(factory_class, type) and issubclass(
            factory_class, InfrastructureFactory
        )
        if not is_factory:
            raise ConfigurationError(
                f"{env.describe(key)}={name!r}: the module has no Factory "
                "(a subclass of retell.persistence.InfrastructureFactory), so it is not a store."
            )
        found: type[InfrastructureFactory] = factory_class
        return found

    def _compressor(self) -> Compressor | None:
        topic = self.env.get(self.COMPRESSOR_TOPIC, "").strip()
        if not topic:
            return None
        compressor: Compressor = self._construct_topic(self.COMPRESSOR_TOPIC, topic)
        return compressor

    def _cipher(self) -> Cipher | None:
        topic = self.env.get(self.CIPHER_TOPIC, "").strip()
        key = self.env.get(self.CIPHER_KEY, "").strip()
        if not key:
            if topic:
                raise ConfigurationError(
                    f"{self.env.describe('CIPHER_TOPIC')} is set but CIPHER_KEY is not: set "
                    "CIPHER_KEY (make one with AESCipher.create_key(32))."
                )
            return None
        cipher: Cipher = self._construct_topic(
            self.CIPHER_TOPIC, topic or get_topic(AESCipher), key
        )
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
        return self.env.get_bool(self.IS_SNAPSHOTTING_ENABLED, False)

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


def _factory_class(env: Environment) -> type[InfrastructureFactory]:
    """The factory class that ``PERSISTENCE_MODULE``, or else the `eventsourcing`
    library's ``INFRASTRUCTURE_FACTORY`` or ``FACTORY_TOPIC``, names (default:
    `retell.config.default_store`, memory unless a framework names its own).

    Keys that are set must all name a retell store, and the same one.
    """
    chosen: tuple[str, type[InfrastructureFactory]] | None = None
    name = env.get("PERSISTENCE_MODULE", "").strip()
    if name:
        chosen = ("PERSISTENCE_MODULE", InfrastructureFactory._module_factory(env, name))
    for key in _FACTORY_KEYS:
        topic = env.get(key, "").strip()
        if not topic:
            continue
        factory_class = _legacy_factory_class(env, key, topic)
        if chosen is None:
            chosen = (key, factory_class)
        elif factory_class is not chosen[1]:
            raise ConfigurationError(
                f"{env.describe(chosen[0])} and {env.describe(key)} name different stores "
                f"({chosen[1].__module__} and {factory_class.__module__}): set "
                "PERSISTENCE_MODULE alone."
            )
    if chosen is None:
        return InfrastructureFactory._module_factory(env, default_store())
    return chosen[1]


def _legacy_factory_class(env: Environment, key: str, topic: str) -> type[InfrastructureFactory]:
    """The factory class `topic` names: a store module, or a factory class in one."""
    module = topic.partition(":")[0]
    for theirs, ours in _STORES.items():
        if module == theirs or module.startswith(theirs + "."):
            raise ConfigurationError(
                f"{env.describe(key)}={topic!r} names the eventsourcing library's store: "
                f"set PERSISTENCE_MODULE={ours} instead (and unset {key})."
            )
    try:
        obj = resolve_topic(topic)
    except TopicError as error:
        raise ConfigurationError(
            f"{env.describe(key)}={topic!r}: {error} Name a store module or its factory "
            "class (retell.sqlite:Factory), or set PERSISTENCE_MODULE instead."
        ) from error
    if isinstance(obj, ModuleType):
        return InfrastructureFactory._module_factory(env, obj.__name__, key)
    if isinstance(obj, type) and issubclass(obj, InfrastructureFactory):
        return obj
    raise ConfigurationError(
        f"{env.describe(key)}={topic!r} is not a store module or a subclass of "
        "retell.persistence.InfrastructureFactory: name one (retell.sqlite:Factory), "
        "or set PERSISTENCE_MODULE instead."
    )
