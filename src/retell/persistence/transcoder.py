"""Turning events into bytes and back, with msgspec's JSON codec.

Why msgspec: it decodes JSON straight into a typed Struct (our events) in C, checking
types as it goes, several times faster than ``json`` plus an object hook. Replaying
an aggregate is mostly decoding, so this is where speed is won.

Two paths:

- Fields with precise annotations (``name: str``, ``ids: list[UUID]``, a dataclass)
  are encoded and decoded by msgspec from the annotation alone.
- Fields annotated ``Any``, or left unannotated, and snapshot state, can hold
  anything: their values are written in a tagged form (``{"__t": "uuid", "v": ...}``)
  so that a UUID comes back a UUID, not a string.

Other types are registered with `Transcoder.register`, for both paths.

When an event class's `class_version` is above 1, the version is written in front
of the state as ``{"_v": N, ...}``; state stored by an older version is decoded to a
dict, passed through the class's upcasters, and converted to the class.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import typing
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from retell.domain.events import DomainEvent
from retell.errors import TranscodingError
from retell.topics import get_topic, resolve_topic

T = TypeVar("T")

_TAG = "__t"
_VERSION_PREFIX = b'{"_v":'
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, NoneType})
_PRECISE_LEAVES: frozenset[Any] = frozenset(
    {str, int, float, bool, NoneType, bytes, UUID, datetime, date, time, Decimal}
)
_BUILTIN_TAGS = frozenset(
    {
        "uuid",
        "datetime",
        "date",
        "time",
        "decimal",
        "tuple",
        "set",
        "frozenset",
        "bytes",
        "dict",
        "enum",
        "object",
    }
)


@dataclasses.dataclass(frozen=True)
class _CustomType:
    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


class _ClassCodec:
    """How one event class is decoded: its loosely typed fields, or else a typed decoder."""

    __slots__ = ("decoder", "loose")

    def __init__(self, decoder: msgspec.json.Decoder[Any] | None, loose: tuple[str, ...]) -> None:
        self.decoder = decoder
        self.loose = loose


class Transcoder:
    """Encodes domain events to JSON bytes and decodes them back to the same classes."""

    def __init__(self) -> None:
        self._custom: dict[type, _CustomType] = {}
        self._custom_by_name: dict[str, _CustomType] = {}
        self._codecs: dict[type, _ClassCodec] = {}
        self._encoder = msgspec.json.Encoder(enc_hook=self._enc_hook, decimal_format="string")

    def register(
        self,
        cls: type[T],
        name: str,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> None:
        """Teach the transcoder a type: `encode` turns a value into JSON-able data, `decode` back.

        `name` is stored with values in loosely typed fields: keep it stable. Register
        types before the first event is encoded or decoded (in
        `Application.register_transcodings`), since decoding plans are made once.
        """
        if self._codecs:
            raise TranscodingError(
                f"register {cls.__qualname__} before the transcoder is used: override "
                "Application.register_transcodings() to register types."
            )
        if name in _BUILTIN_TAGS:
            raise TranscodingError(f"{name!r} is a built-in type name: choose another name")
        custom = _CustomType(name, encode, decode)
        self._custom[cls] = custom
        self._custom_by_name[name] = custom

    # Encoding

    def encode(self, event: DomainEvent) -> bytes:
        cls = type(event)
        codec = self._codec(cls)
        try:
            if codec.loose:
                fields = msgspec.structs.asdict(event)
                for name in codec.loose:
                    fields[name] = self._tag(fields[name])
                data = self._encoder.encode(fields)
            else:
                data = self._encoder.encode(event)
            # What cannot be read back must not be written.
            self._decode_current(cls, codec, data)
        except (msgspec.ValidationError, msgspec.EncodeError, TypeError, ValueError) as error:
            raise TranscodingError(
                f"cannot store {cls.__qualname__} event (version {event.originator_version} "
                f"of {event.originator_id}): {error}. Check the values given to the event "
                "against its fields' types, or register the type with Transcoder.register()."
            ) from error
        version = cls.class_version
        if version != 1:
            data = b"%s%d,%s" % (_VERSION_PREFIX, version, data[1:])
        return data

    def _enc_hook(self, value: Any) -> Any:
        custom = self._custom.get(type(value))
        if custom is not None:
            return custom.encode(value)
        raise TypeError(f"{type(value).__qualname__} values are not supported")

    def _tag(self, value: Any) -> Any:
        """The value in the tagged form that keeps its type through JSON."""
        cls = type(value)
        if cls in _PLAIN:
            return value
        if cls is list:
            return [self._tag(v) for v in value]
        if cls is dict:
            if _TAG not in value and all(type(k) is str for k in value):
                return {k: self._tag(v) for k, v in value.items()}
            return {_TAG: "dict", "v": [[self._tag(k), self._tag(v)] for k, v in value.items()]}
        custom = self._custom.get(cls)
        if custom is not None:
            return {_TAG: custom.name, "v": custom.encode(value)}
        if isinstance(value, enum.Enum):
            return {_TAG: "enum", "c": get_topic(cls), "v": self._tag(value.value)}
        if cls is UUID:
            return {_TAG: "uuid", "v": str(value)}
        if cls is datetime or cls is date or cls is time:
            return {_TAG: cls.__name__, "v": value.isoformat()}
        if cls is Decimal:
            return {_TAG: "decimal", "v": str(value)}
        if cls is tuple or cls is set or cls is frozenset:
            return {_TAG: cls.__name__, "v": [self._tag(v) for v in value]}
        if cls is bytes:
            return {_TAG: "bytes", "v": base64.b64encode(value).decode()}
        if dataclasses.is_dataclass(value) or isinstance(value, msgspec.Struct):
            fields = (
                msgspec.structs.asdict(value)
                if isinstance(value, msgspec.Struct)
                else {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            )
            return {_TAG: "object", "c": get_topic(cls), "v": self._tag(fields)}
        raise TypeError(
            f"{cls.__qualname__} values are not supported: register {cls.__qualname__} with "
            "Transcoder.register() (in Application.register_transcodings)"
        )

    # Decoding

    def fast_decoder(self, cls: type[DomainEvent]) -> Callable[[bytes], DomainEvent]:
        """msgspec's own decoder for `cls` where it can be used alone, else `decode`.

        Replays call it once per event, so the common case (version 1, precise
        types) is a C call with no Python in between. Events refuse unknown fields,
        so anything it cannot decode exactly as stored (a version marker from a newer
        class, a field since removed) raises `msgspec.ValidationError`: the caller
        then decodes that event with `decode`, which handles or explains it.
        """
        codec = self._codec(cls)
        if codec.decoder is None or cls.class_version != 1:
            return functools.partial(self.decode, cls)
        return codec.decoder.decode

    def decode(self, cls: type[DomainEvent], data: bytes) -> DomainEvent:
        codec = self._codec(cls)
        version = 1
        if data.startswith(_VERSION_PREFIX):
            end = data.index(b",", len(_VERSION_PREFIX))
            version = int(data[len(_VERSION_PREFIX) : end])
            data = b"{" + data[end + 1 :]
        try:
            if version == cls.class_version:
                event: DomainEvent = self._decode_current(cls, codec, data)
                return event
            if version > cls.class_version:
                raise TranscodingError(
                    f"a stored {cls.__qualname__} event has class_version {version}, newer "
                    f"than this code's {cls.class_version}: run the newer code to read it."
                )
            event = self._decode_via_dict(cls, codec, data, version)
            return event
        except (msgspec.ValidationError, msgspec.DecodeError, KeyError, TypeError) as error:
            hint = (
                "If the class changed shape, raise its class_version and add an upcast method."
                if data.startswith(b"{")
                else "The bytes are not JSON: were they written with CIPHER_KEY or "
                "COMPRESSOR_TOPIC set, and read without them?"
            )
            raise TranscodingError(
                f"cannot read a stored {cls.__qualname__} event: {error}. {hint}"
            ) from error

    def _decode_current(self, cls: type[DomainEvent], codec: _ClassCodec, data: bytes) -> Any:
        if codec.decoder is not None:
            try:
                return codec.decoder.decode(data)
            except msgspec.ValidationError:
                pass  # perhaps a field the class no longer has: the lenient path drops it
        return self._decode_via_dict(cls, codec, data, cls.class_version)

    def _decode_via_dict(
        self, cls: type[DomainEvent], codec: _ClassCodec, data: bytes, version: int
    ) -> Any:
        """The slow path: loosely typed fields, or state stored by an older class version.

        Upcasters see loosely typed values as Python objects and typed ones as JSON.
        """
        state: dict[str, Any] = msgspec.json.decode(data)
        for name in codec.loose:
            if name in state:
                state[name] = self._untag(state[name])
        if version != cls.class_version:
            cls.upcast(state, version)
        fields = cls.__struct_fields__  # fields removed from the class are ignored
        state = {name: value for name, value in state.items() if name in fields}
        return msgspec.convert(state, cls, dec_hook=self._dec_hook)

    def _dec_hook(self, cls: type, value: Any) -> Any:
        custom = self._custom.get(cls)
        if custom is None:
            raise TypeError(f"{cls.__qualname__} is not a supported type")
        return custom.decode(value)

    def _untag(self, value: Any) -> Any:
        cls = type(value)
        if cls is list:
            return [self._untag(v) for v in value]
        if cls is not dict:
            return value
        tag = value.get(_TAG)
        if tag is None:
            return {k: self._untag(v) for k, v in value.items()}
        data = value["v"]
        match tag:
            case "uuid":
                return UUID(data)
            case "datetime":
                return datetime.fromisoformat(data)
            case "date":
                return date.fromisoformat(data)
            case "time":
                return time.fromisoformat(data)
            case "decimal":
                return Decimal(data)
            case "tuple":
                return tuple(self._untag(v) for v in data)
            case "set":
                return {self._untag(v) for v in data}
            case "frozenset":
                return frozenset(self._untag(v) for v in data)
            case "bytes":
                return base64.b64decode(data)
            case "dict":
                return {self._untag(k): self._untag(v) for k, v in data}
            case "enum":
                return resolve_topic(value["c"])(self._untag(data))
            case "object":
                return resolve_topic(value["c"])(**self._untag(data))
        custom = self._custom_by_name.get(tag)
        if custom is None:
            raise TranscodingError(
                f"stored data has a value of type {tag!r}, which is not registered: register "
                "it with Transcoder.register() before reading these events."
            )
        return custom.decode(data)

    # Per-class plans

    def _codec(self, cls: type[DomainEvent]) -> _ClassCodec:
        try:
            return self._codecs[cls]
        except KeyError:
            pass
        try:
            loose = tuple(
                field.name
                for field in msgspec.structs.fields(cls)
                if not self._is_precise(field.type, set())
            )
            decoder = None if loose else msgspec.json.Decoder(cls, dec_hook=self._dec_hook)
        except (TypeError, NameError) as error:
            raise TranscodingError(
                f"cannot store {cls.__qualname__} events: {error}. Use the types retell "
                "supports in its fields, or register the type with Transcoder.register()."
            ) from error
        codec = self._codecs[cls] = _ClassCodec(decoder, loose)
        return codec

    def _is_precise(self, tp: Any, seen: set[Any]) -> bool:
        """Whether msgspec alone round-trips values of annotation `tp` to the same types."""
        if tp in _PRECISE_LEAVES or tp in self._custom or tp in seen:
            return True
        origin = typing.get_origin(tp)
        if origin is not None:
            if origin is typing.Annotated:
                return self._is_precise(typing.get_args(tp)[0], seen)
            if origin is typing.Literal:
                return True
            args = [a for a in typing.get_args(tp) if a is not Ellipsis]
            if origin in (typing.Union, UnionType):
                # Unions of several container or object types are ambiguous in JSON.
                return (
                    all(self._is_precise(a, seen) for a in args)
                    and sum(a not in _PRECISE_LEAVES for a in args) <= 1
                )
            if origin in (list, set, frozenset, tuple, dict):
                return bool(args) and all(self._is_precise(a, seen) for a in args)
            return False
        if not isinstance(tp, type):
            return False
        if issubclass(tp, enum.Enum):
            return True
        if dataclasses.is_dataclass(tp) or issubclass(tp, msgspec.Struct):
            seen.add(tp)
            if issubclass(tp, msgspec.Struct):
                types = [field.type for field in msgspec.structs.fields(tp)]
            else:
                try:
                    hints = typing.get_type_hints(tp)
                except (TypeError, NameError):
                    return False
                types = [hints[field.name] for field in dataclasses.fields(tp)]
            return all(self._is_precise(t, seen) for t in types)
        return False
