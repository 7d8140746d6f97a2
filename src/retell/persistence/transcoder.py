"""Turning events, and any other supported value, into bytes and back, with msgspec's JSON.

Why msgspec: it decodes JSON straight into a typed Struct (our events) in C, checking
types as it goes, several times faster than ``json`` plus an object hook. Replaying
an aggregate is mostly decoding, so this is where speed is won.

Two paths:

- Fields with precise annotations (``name: str``, ``ids: list[UUID]``, a dataclass)
  are encoded and decoded by msgspec from the annotation alone.
- Fields annotated ``Any``, or left unannotated, and snapshot state, can hold
  anything: their values are written in a tagged form (``{"__t": "uuid", "v": ...}``)
  so that a UUID comes back a UUID, not a string.

A value is stored as its own type, whatever its field's annotation says, as in the
`eventsourcing` library: an ``EmailAddress`` in a field annotated ``str`` comes back
an ``EmailAddress``, an int in a ``float`` field an int. Each event class gets a
generated check that its values are exactly of their annotated types, which costs
less than the decoding it often saves (below). An event that fails it has the
fields that do not match written in the tagged form and named in a ``"__o"`` key;
read back, they are untagged and taken as they are. With ``strict=True``
(``TRANSCODER_STRICT=y``) such an event is refused instead.

What cannot be read back is not written: an encoded event is decoded again, unless
its values are of exactly the annotated types and those types always decode (no
floats, constraints, literals, registered types or dataclasses; no tagged values).

JSON has no NaN or infinity, and msgspec writes them as ``null``. In loosely typed
fields they are tagged like any other value (``{"__t": "float", "v": "nan"}``). In
precisely typed fields the fast path stays as it is: an event is looked at again
only when reading its bytes back fails (a ``null`` in a ``float`` field), or when
they hold a ``null`` where None and a float are both allowed (``float | None``). If
a non-finite float is there, the fields holding one are written in the tagged form
and named in a ``"__f"`` key, which the fast decoder refuses as unknown and the
careful one reads.

Other types are registered with `Transcoder.register` (also as a `Transcoding`, the
`eventsourcing` library's form), for both paths; what their `encode` returns is
encoded in turn.

When an event class's `class_version` is above 1, the version is written in front
of the state as ``{"_v": N, ...}``; state stored by an older version is decoded to a
dict, passed through the class's upcasters, and converted to the class.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import enum
import functools
import itertools
import keyword
import math
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, TypeVar, overload
from uuid import UUID

import msgspec

from retell.domain.events import DomainEvent
from retell.errors import TopicError, TranscodingError
from retell.topics import get_topic, resolve_topic

T = TypeVar("T")
E = TypeVar("E", bound=DomainEvent)

_TAG = "__t"
_ID = "originator_id"
_FLOAT_FIELDS = "__f"  # names the precisely typed fields written in the tagged form
_OWN_TYPES = "__o"  # names the precisely typed fields holding values of other types
_VERSION_PREFIX = b'{"_v":'
_PLAIN: frozenset[type] = frozenset({str, int, bool, NoneType})  # float: see _tag
_PRECISE_LEAVES: frozenset[Any] = frozenset(
    {str, int, float, bool, NoneType, bytes, UUID, datetime, date, time, Decimal}
)
_FLOATLESS_LEAVES: frozenset[Any] = _PRECISE_LEAVES - {float}
# Subclasses of these are stored as the base value and the subclass's topic, and
# read back by calling the subclass with the base value.
_CASTABLE: tuple[Any, ...] = (str, int, float, bytes, list, dict, tuple, set, frozenset)
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
        "cast",
    }
)


class Transcoding(ABC):
    """A custom type's coding, as the `eventsourcing` library declares one.

    Subclass it with class attributes `type` and `name` and methods `encode` and
    `decode`, and pass an instance to `Transcoder.register`: code written for that
    library registers its types unchanged.
    """

    type: builtins.type[Any]
    name: str

    @abstractmethod
    def encode(self, obj: Any) -> Any:
        """`obj` as a value the transcoder supports (it is encoded in turn)."""

    @abstractmethod
    def decode(self, data: Any) -> Any:
        """The object that `encode` made `data` from."""


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

    `fits` tells whether an event's typed fields hold exactly their annotated types,
    `field_fits` the same field by field, with `types` their annotations as msgspec
    reads them and `expected` as they are checked (the id: a UUID or a str). `safe`
    says that values that fit always decode, so that they need not be decoded again.
    `variants` are the class with some fields typed ``Any``, made as events with
    values of other types are read, to convert the other fields in one call.
    """

    __slots__ = (
        "decoder",
        "expected",
        "field_fits",
        "fits",
        "floats",
        "loose",
        "null_floats",
        "safe",
        "types",
        "variants",
    )

    def __init__(
        self,
        decoder: msgspec.json.Decoder[Any] | None,
        loose: tuple[str, ...],
        floats: tuple[str, ...],
        null_floats: bool,
        types: dict[str, Any],
        expected: dict[str, Any],
        fits: Callable[[Any], bool],
        field_fits: tuple[tuple[str, Callable[[Any], bool]], ...],
        safe: bool,
    ) -> None:
        self.decoder = decoder
        self.loose = loose
        self.floats = floats
        self.null_floats = null_floats
        self.types = types
        self.expected = expected
        self.fits = fits
        self.field_fits = field_fits
        self.safe = safe
        self.variants: dict[frozenset[str], type[msgspec.Struct]] = {}


class Transcoder:
    """Encodes domain events, and other supported values, to JSON bytes and back.

    With `strict`, an event holding a value of another type than its field's
    annotation is refused, rather than stored as its own type.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._custom: dict[type, _CustomType] = {}
        self._custom_by_name: dict[str, _CustomType] = {}
        self._codecs: dict[type, _ClassCodec] = {}
        self._encoder = msgspec.json.Encoder(enc_hook=self._enc_hook, decimal_format="string")

    @overload
    def register(self, cls: Transcoding, /) -> None: ...

    @overload
    def register(
        self,
        cls: type[T],
        name: str,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> None: ...

    def register(
        self,
        cls: Any,
        name: str | None = None,
        encode: Callable[[Any], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> None:
        """Teach the transcoder a type: `encode` turns a value into a supported one, `decode` back.

        Also ``register(transcoding)``, with a `Transcoding`, as the `eventsourcing`
        library has it. What `encode` returns is encoded in turn, so it may hold
        UUIDs, dates, or other registered types. `name` is stored with values in
        loosely typed fields: keep it stable. Register types before the first event
        is encoded or decoded (in `Application.register_transcodings`), since
        decoding plans are made once.
        """
        if name is None and encode is None and decode is None:
            transcoding = cls
            if getattr(transcoding, "coded_without_it", False):
                return  # UUIDAsHex & co.: see retell.persistence.transcodings
            try:
                cls, name = transcoding.type, transcoding.name
                encode, decode = transcoding.encode, transcoding.decode
            except AttributeError:
                raise TranscodingError(
                    f"register() takes a Transcoding (an object with type, name, encode and "
                    f"decode), or a class, a name, an encode and a decode: not {transcoding!r}"
                ) from None
        if not isinstance(cls, type) or not isinstance(name, str):
            raise TranscodingError(
                f"register() takes a class and a name (a str), not {cls!r} and {name!r}"
            )
        if encode is None or decode is None:
            raise TranscodingError(f"register {cls.__qualname__} with both encode and decode")
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

    def encode(self, obj: Any) -> bytes:
        """An event as it is stored, or any other supported value in its tagged form.

        `decode` reads them back: ``decode(EventClass, data)`` an event,
        ``decode(data)`` a value.
        """
        cls = type(obj)
        codec = self._codecs.get(cls)
        if codec is None:
            if not isinstance(obj, DomainEvent):
                return self._encode_value(obj)
            codec = self._codec(cls)
        event: DomainEvent = obj
        try:
            if not codec.fits(event):
                data = self._encode_own_types(event, codec)
            else:
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
                if not codec.safe or (codec.loose and b'"__t"' in data):
                    try:
                        self._decode_current(cls, codec, data)
                    except msgspec.ValidationError:
                        data = self._encode_non_finite(event, codec, data)  # a NaN in a float?
                        try:
                            self._decode_current(cls, codec, data)
                        except msgspec.ValidationError:
                            if self.strict:
                                raise
                            data = self._encode_own_types(event, codec)  # a constraint?
        except (
            msgspec.ValidationError,
            msgspec.EncodeError,
            TypeError,
            ValueError,
            TopicError,
        ) as error:
            raise TranscodingError(
                f"cannot store {cls.__qualname__} event (version {event.originator_version} "
                f"of {event.originator_id}): {error}. "
                + (
                    "TRANSCODER_STRICT is set: give each field a value of its annotated "
                    "type, or unset it to store values as their own types."
                    if self.strict
                    else "Check the values given to the event against its fields' types, or "
                    "register the type with Transcoder.register()."
                )
            ) from error
        version = cls.class_version
        if version != 1:
            data = b"%s%d,%s" % (_VERSION_PREFIX, version, data[1:])
        return data

    def _encode_value(self, obj: Any) -> bytes:
        try:
            return self._encoder.encode(self._tag(obj))
        except (msgspec.EncodeError, TypeError, ValueError) as error:
            raise TranscodingError(f"cannot encode {type(obj).__qualname__}: {error}") from error

    def _encode_own_types(self, event: DomainEvent, codec: _ClassCodec) -> bytes:
        """The event, with the typed fields whose values would not come back tagged.

        Those fields hold values of other types than their annotations (or, rarely,
        values the annotation refuses, or NaN): they are named in a ``"__o"`` key,
        untagged when read, and taken as they are.
        """
        fields = msgspec.structs.asdict(event)
        own = [name for name, fits in codec.field_fits if not fits(fields[name])]
        if self.strict:
            name = own[0]
            raise TypeError(
                f"Expected `{_describe_type(codec.expected[name])}`, got "
                f"`{type(fields[name]).__qualname__}` - at `$.{name}`"
            )
        own += [
            name
            for name, _ in codec.field_fits
            if name not in own and not self._reads_back(codec, name, fields[name])
        ]
        for name in own:
            fields[name] = self._tag(fields[name])
        for name in codec.loose:
            fields[name] = self._tag(fields[name])
        data = self._encoder.encode({_OWN_TYPES: own, **fields})
        if not codec.safe or b'"__t"' in data:  # else plain JSON, and typed values that fit
            self._decode_via_dict(type(event), codec, data, type(event).class_version)
        return data

    def _reads_back(self, codec: _ClassCodec, name: str, value: Any) -> bool:
        """Whether a value of its annotated type comes back from JSON through the annotation."""
        if codec.safe:
            return True
        if name in codec.floats:
            try:
                if _holds_non_finite(msgspec.to_builtins(value, enc_hook=self._enc_hook)):
                    return False
            except (TypeError, ValueError):
                return False
        try:
            data = self._encoder.encode(value)
            msgspec.json.decode(data, type=codec.types[name], dec_hook=self._dec_hook)
        except (msgspec.ValidationError, msgspec.EncodeError, TypeError, ValueError):
            return False
        return True

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
            return self._tag(self._custom_encode(custom, value))
        raise TypeError(f"{type(value).__qualname__} values are not supported")

    @staticmethod
    def _custom_encode(custom: _CustomType, value: Any) -> Any:
        encoded = custom.encode(value)
        if type(encoded) is type(value):  # it would be encoded again, and again...
            raise TypeError(
                f"the encode registered for {type(value).__qualname__} ({custom.name!r}) "
                "returned a value of the same type: return a supported value instead"
            )
        return encoded

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
            return {_TAG: custom.name, "v": self._tag(self._custom_encode(custom, value))}
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
        if isinstance(value, tuple) and hasattr(cls, "_fields"):  # a named tuple
            named: Any = value
            return {_TAG: "object", "c": get_topic(cls), "v": self._tag(named._asdict())}
        for base in _CASTABLE:
            if isinstance(value, base):
                return {_TAG: "cast", "c": get_topic(cls), "v": self._tag(base(value))}
        raise TypeError(
            f"{cls.__qualname__} values are not supported: register {cls.__qualname__} with "
            "Transcoder.register() (in Application.register_transcodings)"
        )

    # Decoding

    def fast_decoder(self, cls: type[DomainEvent]) -> Callable[[bytes], DomainEvent]:
        """msgspec's own decoder for `cls` where it can be used alone, else `decode`'s
        careful path.

        Replays call it once per event, so the common case (version 1, precise
        types) is a C call with no Python in between. Events refuse unknown fields,
        so anything it cannot decode exactly as stored (a version marker from a newer
        class, a field since removed, a value stored as its own type) raises
        `msgspec.ValidationError`: the caller then decodes that event with `decode`,
        which handles or explains it.

        The event's id comes back as text: the caller sets the id of the record it
        read, which has the type the store keeps (`retell.persistence.mapper`).
        """
        codec = self._codec(cls)
        if codec.decoder is None or cls.class_version != 1:
            return functools.partial(self._decode_event, cls)
        return codec.decoder.decode

    @overload
    def decode(self, data: bytes, /) -> Any: ...

    @overload
    def decode(self, cls: type[E], data: bytes, /) -> E: ...

    def decode(self, cls: Any, data: bytes | None = None, /) -> Any:
        """``decode(EventClass, data)``: an event; ``decode(data)``: any value `encode` wrote.

        An event's id in the canonical text of a UUID comes back a UUID, any other a
        str: the bytes alone cannot tell the UUID from a str of that text, which only
        the store's record can (the mapper sets the record's id on the event).
        """
        if data is None:
            return self._decode_value(cls)
        return _uuid_id(self._decode_event(cls, data))

    def _decode_event(self, cls: type[E], data: bytes) -> E:
        """`decode` of an event, its id left as text (`fast_decoder`'s careful form)."""
        codec = self._codec(cls)
        version = 1
        if data.startswith(_VERSION_PREFIX):
            end = data.index(b",", len(_VERSION_PREFIX))
            version = int(data[len(_VERSION_PREFIX) : end])
            data = b"{" + data[end + 1 :]
        try:
            if version == cls.class_version:
                event: E = self._decode_current(cls, codec, data)
                return event
            if version > cls.class_version:
                raise TranscodingError(
                    f"a stored {cls.__qualname__} event has class_version {version}, newer "
                    f"than this code's {cls.class_version}: run the newer code to read it."
                )
            upcast: E = self._decode_via_dict(cls, codec, data, version)
            return upcast
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

    def _decode_value(self, data: bytes) -> Any:
        try:
            return self._untag(msgspec.json.decode(data))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as error:
            raise TranscodingError(f"cannot decode a value: {error}") from error

    def _decode_current(self, cls: type[DomainEvent], codec: _ClassCodec, data: bytes) -> Any:
        if codec.decoder is not None and b'"__o":' not in data:  # that key cannot be in a str
            try:
                return codec.decoder.decode(data)
            except msgspec.ValidationError:
                pass  # perhaps a field the class no longer has: the lenient path drops it
        return self._decode_via_dict(cls, codec, data, cls.class_version)

    def _decode_via_dict(
        self, cls: type[DomainEvent], codec: _ClassCodec, data: bytes, version: int
    ) -> Any:
        """The slow path: loosely typed fields, values stored as their own types, or
        state stored by an older class version.

        Upcasters see loosely typed values and values stored as their own types as
        Python objects, and typed ones as JSON, but for NaN and the infinities, which
        they see as floats.
        """
        state: dict[str, Any] = msgspec.json.decode(data)
        if type(state) is not dict:
            raise TranscodingError(
                f"the stored state is a JSON {_JSON_NAMES[type(state)]}, not an object: it was "
                "not written by retell, or was changed since. Restore the record from a "
                "backup, or correct its state to an object of the event's fields."
            )
        own: list[str] | None = None
        if _OWN_TYPES in state:
            own = state.pop(_OWN_TYPES)
            for name in own:
                if name in state:
                    state[name] = self._untag(state[name])
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
        if own:
            return self._convert_but(cls, codec, state, own)
        try:
            return msgspec.convert(state, cls, dec_hook=self._dec_hook)
        except msgspec.ValidationError:
            # JSON's keys are strings: a dict[int, ...] field needs them converted, which
            # str_keys does, at a cost every event would pay.
            return msgspec.convert(state, cls, dec_hook=self._dec_hook, str_keys=True)

    def _convert_but(
        self, cls: type[DomainEvent], codec: _ClassCodec, state: dict[str, Any], own: list[str]
    ) -> Any:
        """The event, with the fields in `own` as they are and the others converted.

        Through a variant of the class whose fields in `own` are typed ``Any``: one
        call converts the others, rather than one call a field.
        """
        key = frozenset(own)
        variant = codec.variants.get(key)
        if variant is None:
            fields = [
                (name, Any if name in key else codec.types.get(name, Any), msgspec.UNSET)
                for name in cls.__struct_fields__
            ]
            variant = codec.variants[key] = msgspec.defstruct(cls.__name__, fields, kw_only=True)
        converted = msgspec.convert(state, variant, dec_hook=self._dec_hook, str_keys=True)
        values = zip(variant.__struct_fields__, msgspec.structs.astuple(converted), strict=True)
        return cls(**{name: value for name, value in values if value is not msgspec.UNSET})

    def _dec_hook(self, cls: type, value: Any) -> Any:
        custom = self._custom.get(cls)
        if custom is None:
            raise TypeError(f"{cls.__qualname__} is not a supported type")
        return custom.decode(self._untag(value))

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
            case "enum" | "cast":
                return resolve_topic(value["c"])(self._untag(data))
            case "object":
                return resolve_topic(value["c"])(**self._untag(data))
        custom = self._custom_by_name.get(tag)
        if custom is None:
            raise TranscodingError(
                f"stored data has a value of type {tag!r}, which is not registered: register "
                "it with Transcoder.register() before reading these events."
            )
        return custom.decode(self._untag(data))

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
            types = {f.name: f.type for f in fields if f.name not in loose}
            kinds = {name: self._float_kind(tp, set()) for name, tp in types.items()}
            floats = tuple(name for name, kind in kinds.items() if kind)
            null_floats = _NULL_FLOAT in kinds.values()
            decoder = None if loose else msgspec.json.Decoder(cls, dec_hook=self._dec_hook)
            # The id is a UUID or a str, read as text (see DomainEvent.originator_id): both
            # fit, so that either takes the fast path.
            expected = dict(types)
            if expected.get(_ID) is str:
                expected[_ID] = UUID | str
            compiler = _FitsCompiler(self._custom)
            fits = compiler.function(expected, "e", attributes=True)
            field_fits = tuple(
                (name, compiler.function({name: tp}, "v", attributes=False))
                for name, tp in expected.items()
            )
            safe = all(self._is_safe(tp) for tp in types.values())
        except (TypeError, NameError) as error:
            raise TranscodingError(
                f"cannot store {cls.__qualname__} events: {error}. Use the types retell "
                "supports in its fields, or register the type with Transcoder.register()."
            ) from error
        codec = self._codecs[cls] = _ClassCodec(
            decoder, loose, floats, null_floats, types, expected, fits, field_fits, safe
        )
        return codec

    def _is_safe(self, tp: Any) -> bool:
        """Whether every value of exactly the precise annotation `tp` decodes through it.

        Kept narrow on purpose (no floats, which may be NaN, no constraints, literals,
        registered types or classes with fields): other values are decoded again
        before they are written.
        """
        if tp in _FLOATLESS_LEAVES and tp not in self._custom:
            return True
        origin = typing.get_origin(tp)
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if origin in (typing.Union, UnionType):
            return len(args) == 2 and NoneType in args and all(map(self._is_safe, args))
        if origin in (list, set, frozenset, tuple):
            return bool(args) and all(map(self._is_safe, args))
        if origin is dict:
            return len(args) == 2 and args[0] in (str, int) and self._is_safe(args[1])
        if isinstance(tp, type) and issubclass(tp, enum.Enum) and tp not in self._custom:
            values = [type(member.value) for member in tp]
            return not issubclass(tp, enum.Flag) and values in (
                [str] * len(values),
                [int] * len(values),
            )
        return False

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
        return max((self._float_kind(t, seen) for _, t in _fields_of(tp)), default=_NO_FLOAT)

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
                types = [t for _, t in _fields_of(tp)]
            except (TypeError, NameError):
                return False
            return all(self._is_precise(t, seen) for t in types)
        return False


JSONTranscoder = Transcoder  # the `eventsourcing` library's name


def _fields_of(tp: type) -> list[tuple[str, Any]]:
    """The names and annotations of a Struct's or dataclass's fields (none for other classes)."""
    if issubclass(tp, msgspec.Struct):
        return [(field.name, field.type) for field in msgspec.structs.fields(tp)]
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return [(field.name, hints[field.name]) for field in dataclasses.fields(tp)]
    return []


class _FitsCompiler:
    """Writes, and compiles, checks that values are exactly of their annotated types.

    Generated code rather than a tree of closures: the check runs for every event
    saved, and a flat ``type(e.name) is str and ...`` costs a few attribute loads.
    Types are bound to generated names in the code's namespace, never written out.
    """

    def __init__(self, custom: dict[type, _CustomType]) -> None:
        self._custom = custom
        self._namespace: dict[str, Any] = {}
        self._helpers: dict[type, str] = {}
        self._ids = itertools.count()

    def function(
        self, types: dict[str, Any], arg: str, *, attributes: bool
    ) -> Callable[[Any], bool]:
        """A check of `arg`'s attributes `types` (or, without `attributes`, of `arg` itself)."""
        parts = [
            self._expr(tp, _attribute(arg, name) if attributes else arg)
            for name, tp in types.items()
        ]
        return self._define(arg, " and ".join(parts) or "True")

    def _define(self, arg: str, body: str) -> Callable[[Any], bool]:
        name = f"_f{next(self._ids)}"
        exec(f"def {name}({arg}):\n    return {body}\n", self._namespace)
        function: Callable[[Any], bool] = self._namespace[name]
        return function

    def _bind(self, obj: Any) -> str:
        name = f"_n{next(self._ids)}"
        self._namespace[name] = obj
        return name

    def _var(self) -> str:
        return f"_x{next(self._ids)}"

    def _expr(self, tp: Any, v: str) -> str:
        if tp is NoneType or tp is None:
            return f"{v} is None"
        if tp in _PRECISE_LEAVES or tp in self._custom:
            return f"type({v}) is {self._bind(tp)}"
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            return self._expr(args[0], v)
        if origin is typing.Literal:
            return f"(type({v}), {v}) in {self._bind(tuple((type(a), a) for a in args))}"
        if origin in (typing.Union, UnionType):
            return "(" + " or ".join(self._expr(a, v) for a in args) + ")"
        if origin in (list, set, frozenset) or (origin is tuple and args[-1:] == (Ellipsis,)):
            x = self._var()
            each = self._expr(args[0], x)
            return f"(type({v}) is {self._bind(origin)} and all({each} for {x} in {v}))"
        if origin is tuple:
            parts = [f"type({v}) is tuple", f"len({v}) == {len(args)}"]
            parts += [self._expr(a, f"{v}[{i}]") for i, a in enumerate(args)]
            return "(" + " and ".join(parts) + ")"
        if origin is dict:
            k, x = self._var(), self._var()
            each = f"{self._expr(args[0], k)} and {self._expr(args[1], x)}"
            return f"(type({v}) is dict and all({each} for {k}, {x} in {v}.items()))"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return f"type({v}) is {self._bind(tp)}"
        if isinstance(tp, type) and (
            dataclasses.is_dataclass(tp) or issubclass(tp, msgspec.Struct)
        ):
            return f"{self._helper(tp)}({v})"
        raise TypeError(f"{tp!r} cannot be checked")  # _is_precise lets no other through

    def _helper(self, tp: type) -> str:
        """The name of a function that checks a dataclass's or Struct's fields (recursive)."""
        name = self._helpers.get(tp)
        if name is None:
            name = self._helpers[tp] = f"_c{next(self._ids)}"
            parts = [f"type(v) is {self._bind(tp)}"]
            parts += [self._expr(t, _attribute("v", field)) for field, t in _fields_of(tp)]
            body = " and ".join(parts)
            exec(f"def {name}(v):\n    return {body}\n", self._namespace)
        return name


def _uuid_id(event: Any) -> Any:
    """The event, its id made a UUID if it is a UUID's canonical text (as msgspec writes
    UUIDs); the caller that has the store's record sets the record's id instead."""
    value = event.originator_id
    if type(value) is str and len(value) == 36 and value[8] == "-" and value == value.lower():
        try:
            uuid = msgspec.convert(value, UUID)
        except msgspec.ValidationError:
            return event
        if str(uuid) == value:
            msgspec.structs.force_setattr(event, _ID, uuid)
    return event


def _attribute(obj: str, name: str) -> str:
    """Source that reads attribute `name` of `obj`."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{obj}.{name}"
    return f"getattr({obj}, {name!r})"


def _describe_type(tp: Any) -> str:
    """An annotation as it is written in code: ``UUID | None``, ``list[Point]``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, UnionType):
        return " | ".join(map(_describe_type, args))
    if origin is typing.Annotated:
        return _describe_type(args[0])
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _describe_type(a) for a in args)
        return f"{_describe_type(origin)}[{inner}]"
    if tp is NoneType:
        return "None"
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


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
