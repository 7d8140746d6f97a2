"""The mapper turns domain events into stored events and back.

Order out: transcode, then compress, then encrypt; in: the reverse.

An event read back gets the id of its record, not the text in its state: the store
keeps the id as a UUID or as a str, and the record says which, where the state's JSON
cannot (see `DomainEvent.originator_id`). The records of one aggregate share one id
object, so replaying parses no id at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from retell import topics
from retell.cipher import Cipher
from retell.compressor import Compressor
from retell.domain.aggregate import Aggregate
from retell.domain.events import DomainEvent
from retell.errors import TopicError, TranscodingError
from retell.persistence.records import StoredEvent
from retell.persistence.transcoder import Transcoder
from retell.topics import get_topic, resolve_topic

_set = msgspec.structs.force_setattr


class Mapper:
    """Maps events to `StoredEvent` records with a transcoder and optional compressor and cipher."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        self.transcoder = transcoder
        self.compressor = compressor
        self.cipher = cipher
        self._topics: dict[type, str] = {}
        self._decoders: dict[str, Callable[[bytes], DomainEvent]] = {}
        self._generation = topics.generation()

    def to_stored_event(self, event: DomainEvent) -> StoredEvent:
        cls = type(event)
        topic = self._topics.get(cls)
        if topic is None:
            topic = self._topics[cls] = get_topic(cls)
        data = self.transcoder.encode(event)
        if self.compressor is not None:
            data = self.compressor.compress(data)
        if self.cipher is not None:
            data = self.cipher.encrypt(data)
        return StoredEvent(event.originator_id, event.originator_version, topic, data)

    def to_domain_event(self, stored: StoredEvent) -> DomainEvent:
        return self.to_domain_events([stored])[0]

    def to_domain_events(self, stored_events: Sequence[StoredEvent]) -> list[DomainEvent]:
        """Decode many at once: replaying an aggregate is this loop, so it is kept tight."""
        if self._generation != topics.generation():  # a class was redefined (a notebook...)
            self._decoders.clear()
            self._generation = topics.generation()
        if self.cipher is None and self.compressor is None:
            decoders = self._decoders
            try:
                events = [decoders[s.topic](s.state) for s in stored_events]
            except (
                KeyError,
                msgspec.ValidationError,
                msgspec.DecodeError,
                TranscodingError,
                TopicError,
            ):
                pass  # a topic not met yet, or an event the fast decoder cannot take
            else:
                for event, stored in zip(events, stored_events):  # noqa: B905 (same length)
                    _set(event, "originator_id", stored.originator_id)
                return events
        return [self._decode_carefully(stored) for stored in stored_events]

    def _decode_carefully(self, stored: StoredEvent) -> DomainEvent:
        """Decode one event, with the record's id; errors name the record (topic,
        aggregate id, version)."""
        event = self._decode_state(stored)
        if isinstance(event, DomainEvent):  # others keep the id they were written with
            _set(event, "originator_id", stored.originator_id)
        return event

    def _decode_state(self, stored: StoredEvent) -> DomainEvent:
        data = stored.state
        if self.cipher is not None:
            data = self.cipher.decrypt(data)
        if self.compressor is not None:
            data = self.compressor.decompress(data)
        try:
            cls = resolve_topic(stored.topic)
            decode = self._decoders.get(stored.topic)
            if decode is None:
                if not (isinstance(cls, type) and issubclass(cls, DomainEvent)):
                    other: DomainEvent = self._decode_other(cls, data)  # used as one
                    return other
                decode = self._decoders[stored.topic] = self.transcoder.fast_decoder(cls)
            try:
                return decode(data)
            except (msgspec.ValidationError, msgspec.DecodeError):
                event: DomainEvent = self.transcoder.decode(cls, data)  # or says what is wrong
                return event
        except TopicError as error:
            raise TopicError(f"{_where(stored)}: {error}") from error
        except TranscodingError as error:
            raise TranscodingError(f"{_where(stored)}: {error}") from error

    def _decode_other(self, cls: object, data: bytes) -> Any:
        """An event of another style (a dataclass, a msgspec Struct of its own), which
        the transcoder wrote whole, with its class; refused if the topic names no such
        event."""
        event: Any = None
        if isinstance(cls, type) and not issubclass(cls, Aggregate):
            with contextlib.suppress(Exception):
                event = self.transcoder.decode(data)
        readable = isinstance(cls, type) and isinstance(event, cls)
        if not (
            readable and hasattr(event, "originator_id") and hasattr(event, "originator_version")
        ):
            raise TranscodingError(
                f"its topic names {_describe(cls)}, which is not an event class. "
                "The record's topic was changed, or the topic now names another "
                "class: correct the record's topic, or register its event class "
                "under the stored topic with retell.topics.register_topic(topic, "
                "EventClass)."
            )
        return event


def _where(stored: StoredEvent) -> str:
    """The record, as an error names it: only made on errors, since str(UUID) is slow."""
    return (
        f"the stored event at version {stored.originator_version} of aggregate "
        f"{stored.originator_id} (topic {stored.topic!r}) cannot be read"
    )


def _describe(obj: object) -> str:
    """A class as ``module.QualifiedName`` (saying if it is an aggregate), else its repr."""
    if not isinstance(obj, type):
        return repr(obj)
    name = f"{obj.__module__}.{obj.__qualname__}"
    return f"the aggregate class {name}" if issubclass(obj, Aggregate) else f"the class {name}"
