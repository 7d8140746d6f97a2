"""Stored events as people read them: decrypted, decompressed, decoded, shown as JSON.

The admin decodes with the mapper the application itself would build from its
settings (``settings.RETELL`` and the environment, keys optionally prefixed with the
application's upper-cased name), so it reads exactly what the store wrote. It never
raises for a record it cannot read: a staff member looking at a broken or encrypted
event must get a page that says why, not a 500. Each step that can fail (decrypt,
decompress, find the class, decode) says so in `Decoded.note`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import enum
import json
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import msgspec

from retell.config import Environment, process_environ
from retell.django import Factory, conf
from retell.django.dialects.base import to_uuid
from retell.domain.events import DomainEvent
from retell.errors import RetellError
from retell.persistence.mapper import Mapper
from retell.persistence.transcoder import Transcoder
from retell.topics import resolve_topic

Status = Literal["decoded", "raw", "encrypted", "unreadable"]
"""decoded: as its class; raw: stored JSON only (class missing or changed shape);
encrypted: no key configured; unreadable: nothing could be shown."""

_OMIT_IF_NONE = ("correlation_id", "causation_id", "originator_topic")  # unset: not stored


@dataclasses.dataclass(frozen=True)
class Decoded:
    """What the admin can show of one stored event (or snapshot)."""

    status: Status
    event: DomainEvent | None = None
    data: Any = None  # JSON-able: the event's fields, or the stored JSON
    note: str = ""

    @property
    def json(self) -> str:
        """`data` as indented JSON, for a <pre> block."""
        return json.dumps(self.data, indent=2, ensure_ascii=False)

    @property
    def timestamp(self) -> str | None:
        """When the event happened, if that could be read."""
        text = None
        if self.event is not None:
            text = self.event.timestamp.isoformat()
        elif isinstance(self.data, Mapping) and isinstance(self.data.get("timestamp"), str):
            text = self.data["timestamp"]
        if text is None:
            return None
        utc = text.endswith(("Z", "+00:00"))
        return text.replace("T", " ")[:19] + (" UTC" if utc else "")


class EventDecoder:
    """Decodes the records of one application with that application's cipher and compressor.

    `error` is set when the settings themselves are unusable (a malformed key): then
    every record says so, rather than the admin failing.
    """

    def __init__(self, application_name: str, alias: str) -> None:
        self.application_name = application_name
        self.mapper: Mapper | None = None
        self.error = ""
        self.text_ids = False
        env = application_environment(application_name, alias)
        try:
            factory = Factory(env)
            self.mapper = factory.mapper(Transcoder())
            self.text_ids = factory.originator_id_type == "text"
        except RetellError as error:
            self.error = f"The settings of {application_name} cannot be used: {error}"

    def decode(self, topic: str, state: bytes, originator_id: str | None = None) -> Decoded:
        """The record as its event class, or as much of it as can be read.

        `originator_id` is the record's id column: the event gets it, as a UUID or a
        str as the application's ``ORIGINATOR_ID_TYPE`` says, as the store's reads do.
        """
        if self.mapper is None:
            return Decoded("unreadable", note=self.error)
        plain = self._plaintext(state)
        if isinstance(plain, Decoded):
            return plain
        data, note = plain
        try:
            cls = resolve_topic(topic)
        except RetellError as error:
            return self._raw(data, f"{note}The event class cannot be imported here: {error}")
        try:
            event = self.mapper.transcoder.decode(cls, data)
        except (RetellError, msgspec.MsgspecError, TypeError, ValueError) as error:
            return self._raw(data, f"{note}The stored state does not decode as {topic}: {error}")
        if originator_id is not None:
            with contextlib.suppress(msgspec.ValidationError):  # not a UUID: left as decoded
                own_id = originator_id if self.text_ids else to_uuid(originator_id)
                msgspec.structs.force_setattr(event, "originator_id", own_id)
        return Decoded("decoded", event, event_fields(event), note.strip())

    def decode_event(
        self, topic: str, state: bytes, originator_id: str | None = None
    ) -> DomainEvent:
        """The record as its event class; a `RetellError` that says why not."""
        decoded = self.decode(topic, state, originator_id)
        if decoded.event is None:
            raise RetellError(decoded.note or "the event cannot be decoded")
        return decoded.event

    def _plaintext(self, state: bytes) -> tuple[bytes, str] | Decoded:
        """Decrypted and decompressed bytes with a note, or a `Decoded` saying why not."""
        assert self.mapper is not None
        cipher, compressor = self.mapper.cipher, self.mapper.compressor
        data, note = state, ""
        if cipher is not None:
            try:
                data = cipher.decrypt(state)
            except RetellError as error:
                if _looks_like_json(state):  # written before encryption was turned on
                    return state, "Stored without encryption. "
                return Decoded("unreadable", note=f"Cannot decrypt: {error}")
        if compressor is not None:
            try:
                data = compressor.decompress(data)
            except RetellError as error:
                if not _looks_like_json(data):
                    return Decoded("unreadable", note=f"Cannot decompress: {error}")
                note += "Stored without compression. "
        if cipher is None and not _looks_like_json(data):
            return Decoded(
                "encrypted",
                note=(
                    "Encrypted (or compressed): set CIPHER_KEY (and COMPRESSOR_TOPIC, if "
                    f"it was compressed) in settings.RETELL, or {self._prefix}CIPHER_KEY in "
                    "the environment, to the key it was written with to see it."
                ),
            )
        return data, note

    @property
    def _prefix(self) -> str:
        return f"{self.application_name.upper()}_"

    @staticmethod
    def _raw(data: bytes, note: str) -> Decoded:
        try:
            stored = msgspec.json.decode(data)
        except msgspec.DecodeError as error:
            return Decoded("unreadable", note=f"{note} The stored state is not JSON: {error}")
        return Decoded("raw", data=untag(stored), note=f"{note} Showing the stored JSON.")


def _looks_like_json(data: bytes) -> bool:
    """Whether `data` is a JSON object: stored state is; ciphertext and zlib data never are."""
    if not data.startswith(b"{"):
        return False
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return True


def application_environment(application_name: str, alias: str) -> Environment:
    """The settings the application `application_name` reads, as far as Django can know them.

    A key set only in the application class's `env` or its constructor is invisible
    here: the admin sees ``settings.RETELL`` and the environment. The alias is the
    admin's, whatever the application's own.
    """
    prefix = f"{application_name.upper()}_"
    return Environment(application_name, process_environ(), {f"{prefix}{conf.ALIAS_KEY}": alias})


class Decoders:
    """The decoders of one page: each application's settings are read once, not once a row.

    Reading settings merges ``os.environ`` with ``settings.RETELL``; a list page of
    50 rows would otherwise do it 50 times. Settings are read anew on each page, so
    a changed key shows on the next one.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._decoders: dict[str, EventDecoder] = {}

    def __call__(self, application_name: str) -> EventDecoder:
        decoder = self._decoders.get(application_name)
        if decoder is None:
            decoder = self._decoders[application_name] = EventDecoder(application_name, self.alias)
        return decoder


_current: ContextVar[Decoders | None] = ContextVar("retell_admin_decoders", default=None)


@contextlib.contextmanager
def page_decoders(alias: str) -> Iterator[Decoders]:
    """Share one `Decoders` among everything that renders a page, within this block."""
    decoders = Decoders(alias)
    token = _current.set(decoders)
    try:
        yield decoders
    finally:
        _current.reset(token)


def current_decoders() -> Decoders | None:
    """The decoders of the page being made, inside `page_decoders`."""
    return _current.get()


def event_fields(event: DomainEvent) -> dict[str, Any]:
    """An event's fields as JSON-able values, without unset ids and topic (as stored)."""
    fields = msgspec.structs.asdict(event)
    for name in _OMIT_IF_NONE:
        if fields.get(name, 0) is None:
            del fields[name]
    result: dict[str, Any] = jsonable(fields)
    return result


def jsonable(value: Any) -> Any:
    """`value` as JSON-able data that reads well: ids, times and decimals as text.

    Why not msgspec's encoder: it refuses what it does not know (a registered custom
    type, a dict with tuple keys), and this must show anything, if only as its repr.
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, msgspec.Struct):
        return jsonable(msgspec.structs.asdict(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, str | int | float):  # subclasses
        return value
    return repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(jsonable(key))


def untag(value: Any) -> Any:
    """Stored JSON made readable: the transcoder's ``{"__t": "uuid", "v": ...}`` as its value."""
    if isinstance(value, list):
        return [untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("__t")
    if tag is None:
        return {k: untag(v) for k, v in value.items()}
    data = untag(value.get("v"))
    if tag == "dict" and isinstance(data, list):
        return {str(pair[0]): pair[1] for pair in data if isinstance(pair, list) and len(pair) == 2}
    if "c" in value:  # an enum or object: say which class
        return {"class": value["c"], "value": data}
    return data
