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

JSON has no NaN or infinity, and msgspec writes them as ``null``. In loosely typed
fields they are tagged like any other value (``{"__t": "float", "v": "nan"}``). In
precisely typed fields the fast path stays as it is: an event is looked at again
only when reading its bytes back fails (a ``null`` in a ``float`` field), or when
they hold a ``null`` where None and a float are both allowed (``float | None``). If
a non-finite float is there, the fields holding one are written in the tagged form
and named in a ``"__f"`` key, which the fast decoder refuses as unknown and the
careful one reads.

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
import math
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
_FLOAT_FIELDS = "__f"  # names the precisely typed fields written in the tagged form
_VERSION_PREFIX = b'{"_v":'
_PLAIN: frozenset[type] = frozenset({str, int, bool, NoneType})  # float: see _tag
_PRECISE_LEAVES: frozenset[Any] = frozenset(
    {str, int, float, bool, NoneType, bytes, UUID, datetime, date, time, Decimal}
)
_FLOATLESS_LEAVES: frozenset[Any] = _PRECISE_LEAVES - {float}
_NO_FLOAT, _FLOAT, _NULL_FLOAT = 0, 1, 2  # what an annotation can hold: see _float_kind
_JSON_NAMES: dict[type, str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    NoneType: "null",
}
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
        "float",
    }
)


@dataclasses.dataclass(frozen=True)
class _CustomType:
    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


class _ClassCodec:
    """How one event class is coded: its loosely typed fields, or else a typed decoder.

    `floats` names the precisely typed fields whose values can hold a float, where a
    NaN or an infinity would be written as ``null``; `null_floats` is true when such
    a ``null`` could also be read back as None, rather than be refused.
    """

    __slots__ = ("decoder", "floats", "loose", "null_floats")

    def __init__(
        self,
        decoder: msgspec.json.Decoder[Any] | None,
        loose: tuple[str, ...],
        floats: tuple[str, ...],
        null_floats: bool,
    ) -> None:
        self.decoder = decoder
        self.loose = loose
        self.floats = floats
        self.null_floats = null_floats


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
            if codec.null_floats and b"null" in data:  # a NaN would come back as None
                data = self._encode_non_finite(event, codec, data)
            # What cannot be read back must not be written.
            try:
                self._decode_current(cls, codec, data)
            except msgspec.ValidationError:
                data = self._encode_non_finite(event, codec, data)  # a NaN in a float field?
                self._decode_current(cls, codec, data)  # if not, the same error again
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

    def _encode_non_finite(self, event: DomainEvent, codec: _ClassCodec, data: bytes) -> bytes:
        """`data` again, with the precisely typed fields that hold NaN or infinity tagged.

        `data` itself when no such float is there (the ``null`` was a None).
        """
        fields = msgspec.structs.asdict(event)
        tagged = []
        for name in codec.floats:
            value = msgspec.to_builtins(fields[name], enc_hook=self._enc_hook)
            if _holds_non_finite(value):
                fields[name] = self._tag_builtins(value)
                tagged.append(name)
        if not tagged:
            return data
        for name in codec.loose:
            fields[name] = self._tag(fields[name])
        return self._encoder.encode({_FLOAT_FIELDS: tagged, **fields})

    def _tag_builtins(self, value: Any) -> Any:
        """JSON-like data in the tagged form: non-finite floats and dicts JSON cannot hold."""
        cls = type(value)
        if cls is float:
            return value if math.isfinite(value) else {_TAG: "float", "v": repr(value)}
        if cls is list or cls is tuple or cls is set or cls is frozenset:
            return [self._tag_builtins(v) for v in value]
        if cls is dict:
            if _TAG not in value and all(type(k) is str for k in value):
                return {k: self._tag_builtins(v) for k, v in value.items()}
            pairs = [[self._tag_builtins(k), self._tag_builtins(v)] for k, v in value.items()]
            return {_TAG: "dict", "v": pairs}
        return value

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
        if cls is float:
            return value if math.isfinite(value) else {_TAG: "float", "v": repr(value)}
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

        Upcasters see loosely typed values as Python objects and typed ones as JSON,
        but for NaN and the infinities, which they see as floats.
        """
        state: dict[str, Any] = msgspec.json.decode(data)
        if type(state) is not dict:
            raise TranscodingError(
                f"the stored state is a JSON {_JSON_NAMES[type(state)]}, not an object: it was "
                "not written by retell, or was changed since. Restore the record from a "
                "backup, or correct its state to an object of the event's fields."
            )
        if _FLOAT_FIELDS in state:
            for name in state.pop(_FLOAT_FIELDS):
                if name in state:
                    state[name] = self._untag(state[name])
        for name in codec.loose:
            if name in state:
                state[name] = self._untag(state[name])
        if version != cls.class_version:
            cls.upcast(state, version)
        fields = cls.__struct_fields__  # fields removed from the class are ignored
        state = {name: value for name, value in state.items() if name in fields}
        try:
            return msgspec.convert(state, cls, dec_hook=self._dec_hook)
        except msgspec.ValidationError:
            # JSON's keys are strings: a dict[int, ...] field needs them converted, which
            # str_keys does, at a cost every event would pay.
            return msgspec.convert(state, cls, dec_hook=self._dec_hook, str_keys=True)

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
            case "float":
                return float(data)
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
        if not (isinstance(cls, type) and issubclass(cls, DomainEvent)):
            raise TranscodingError(
                f"{cls!r} is not an event class: only subclasses of "
                "retell.domain.DomainEvent are stored and read as events."
            )
        try:
            fields = msgspec.structs.fields(cls)
            loose = tuple(f.name for f in fields if not self._is_precise(f.type, set()))
            kinds = {f.name: self._float_kind(f.type, set()) for f in fields if f.name not in loose}
            floats = tuple(name for name, kind in kinds.items() if kind)
            null_floats = _NULL_FLOAT in kinds.values()
            decoder = None if loose else msgspec.json.Decoder(cls, dec_hook=self._dec_hook)
        except (TypeError, NameError) as error:
            raise TranscodingError(
                f"cannot store {cls.__qualname__} events: {error}. Use the types retell "
                "supports in its fields, or register the type with Transcoder.register()."
            ) from error
        codec = self._codecs[cls] = _ClassCodec(decoder, loose, floats, null_floats)
        return codec

    def _float_kind(self, tp: Any, seen: set[Any]) -> int:
        """Whether values of the precise annotation `tp` can hold a float: `_NO_FLOAT`,
        `_FLOAT`, or `_NULL_FLOAT` where None is allowed in its place (``float | None``).

        Registered types count as `_NULL_FLOAT`: their encoded form may be a float.
        """
        if tp in _FLOATLESS_LEAVES or tp in seen:
            return _NO_FLOAT
        if tp is float:
            return _FLOAT
        if tp in self._custom:
            return _NULL_FLOAT
        origin = typing.get_origin(tp)
        if origin is not None:
            if origin is typing.Annotated:
                return self._float_kind(typing.get_args(tp)[0], seen)
            if origin is typing.Literal:
                return _NO_FLOAT
            args = [a for a in typing.get_args(tp) if a is not Ellipsis]
            kind = max((self._float_kind(a, seen) for a in args), default=_NO_FLOAT)
            if kind and origin in (typing.Union, UnionType) and NoneType in args:
                return _NULL_FLOAT
            return kind
        if not isinstance(tp, type) or issubclass(tp, enum.Enum):
            return _NO_FLOAT
        seen.add(tp)
        return max((self._float_kind(t, seen) for t in self._field_types(tp)), default=_NO_FLOAT)

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
            try:
                types = self._field_types(tp)
            except (TypeError, NameError):
                return False
            return all(self._is_precise(t, seen) for t in types)
        return False

    @staticmethod
    def _field_types(tp: type) -> list[Any]:
        """The annotations of a Struct's or dataclass's fields (none for other classes)."""
        if issubclass(tp, msgspec.Struct):
            return [field.type for field in msgspec.structs.fields(tp)]
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            return [hints[field.name] for field in dataclasses.fields(tp)]
        return []


def _holds_non_finite(value: Any) -> bool:
    """Whether JSON-like data holds a NaN or an infinity, which JSON cannot."""
    cls = type(value)
    if cls is float:
        return not math.isfinite(value)
    if cls is list or cls is tuple or cls is set or cls is frozenset:
        return any(_holds_non_finite(v) for v in value)
    if cls is dict:
        return any(_holds_non_finite(k) or _holds_non_finite(v) for k, v in value.items())
    return False
