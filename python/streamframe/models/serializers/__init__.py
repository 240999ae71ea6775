"""Serializers and deserializers with Quix Streams' names (``quixstreams.models.serializers``).

``app.topic(name, value_deserializer=JSONDeserializer())`` is the same as
``value_deserializer="json"``: the built-in formats run natively, without the GIL. A subclass of
``Serializer`` or ``Deserializer`` written in Python (``__call__(value, ctx)``) is called per
message with the GIL held (PY-03); what it raises goes through the application's error
callbacks (``on_consumer_error`` for a deserializer, ``on_processing_error`` for a serializer),
and ``IgnoreMessage`` raised by a deserializer drops the message.
"""

from typing import Any, Callable, Iterable, List, Mapping, Optional, Tuple, Union

from ..._core import SerializationError, StreamframeError

Headers = Optional[List[Tuple[str, bytes]]]


class IgnoreMessage(StreamframeError):
    """Raised by a deserializer to drop a message (its offset is committed as processed)."""


class SerializationContext:
    """What a serializer or deserializer is told about the message: its topic, which field
    (``"key"`` or ``"value"``) and the message headers (None when it has none)."""

    __slots__ = ("topic", "field", "headers")

    def __init__(self, topic: str, field: str, headers: Headers = None):
        self.topic = topic
        self.field = field
        self.headers = headers


class Deserializer:
    """Base class of deserializers: implement ``__call__(value: bytes, ctx) -> Any``.

    With ``split_values`` True, a returned list is split: each item is a record of its own,
    sharing the message's key, timestamp and offset."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    @property
    def split_values(self) -> bool:
        return False

    def __call__(self, value: bytes, ctx: SerializationContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.__call__()")


class Serializer:
    """Base class of serializers: implement ``__call__(value, ctx) -> bytes``; headers in
    ``extra_headers`` are added to every message produced with it."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    @property
    def extra_headers(self) -> Mapping[str, Union[str, bytes]]:
        return {}

    def __call__(self, value: Any, ctx: SerializationContext) -> Union[str, bytes]:
        raise NotImplementedError(f"{type(self).__name__}.__call__()")


class _Native:
    """A built-in format: passed to the engine by its name (no Python per message)."""

    _native: Optional[str] = None

    def _native_name(self) -> Optional[str]:
        return self._native


def _only_utf8(codec: str, name: str) -> None:
    if codec.lower().replace("-", "_") not in ("utf_8", "utf8"):
        raise NotImplementedError(f"{name}(codec={codec!r}): streamframe's string serde is UTF-8 "
                                  f"only")


class BytesDeserializer(_Native, Deserializer):
    _native = "bytes"

    def __call__(self, value: bytes, ctx: SerializationContext) -> bytes:
        return value


class BytesSerializer(_Native, Serializer):
    _native = "bytes"

    def __call__(self, value: Any, ctx: SerializationContext) -> bytes:
        return value if isinstance(value, bytes) else str(value).encode()


class StringDeserializer(_Native, Deserializer):
    _native = "string"

    def __init__(self, codec: str = "utf_8"):
        _only_utf8(codec, "StringDeserializer")

    def __call__(self, value: bytes, ctx: SerializationContext) -> str:
        return value.decode()


class StringSerializer(_Native, Serializer):
    _native = "string"

    def __init__(self, codec: str = "utf_8"):
        _only_utf8(codec, "StringSerializer")

    def __call__(self, value: Any, ctx: SerializationContext) -> bytes:
        return str(value).encode()


class IntegerDeserializer(_Native, Deserializer):
    _native = "int"

    def __call__(self, value: bytes, ctx: SerializationContext) -> int:
        return int.from_bytes(value, "big", signed=True)


class IntegerSerializer(_Native, Serializer):
    _native = "int"

    def __call__(self, value: int, ctx: SerializationContext) -> bytes:
        return int(value).to_bytes(4, "big", signed=True)


class DoubleDeserializer(_Native, Deserializer):
    _native = "double"

    def __call__(self, value: bytes, ctx: SerializationContext) -> float:
        import struct

        return struct.unpack(">d", value)[0]


class DoubleSerializer(_Native, Serializer):
    _native = "double"

    def __call__(self, value: float, ctx: SerializationContext) -> bytes:
        import struct

        return struct.pack(">d", float(value))


def _json_validator(schema: Optional[Mapping], validator: Any) -> Any:
    if validator is not None or schema is None:
        return validator
    try:
        from jsonschema import Draft202012Validator
    except ImportError as e:  # Quix Streams depends on it; streamframe does not
        raise ImportError("JSON Schema validation needs the jsonschema package "
                          "(pip install jsonschema)") from e
    return Draft202012Validator(schema)


class JSONDeserializer(_Native, Deserializer):
    """JSON, parsed natively. With a custom ``loads``, a ``schema`` or a ``validator`` it runs
    in Python per message (like any Python deserializer)."""

    def __init__(self, loads: Optional[Callable[[bytes], Any]] = None,
                 schema: Optional[Mapping] = None, validator: Any = None,
                 schema_registry_client_config: Any = None):
        if schema_registry_client_config is not None:
            raise NotImplementedError("JSONDeserializer(schema_registry_client_config=...): "
                                      "Schema Registry is not supported yet")
        self._loads = loads
        self._validator = _json_validator(schema, validator)
        if self._validator is not None:
            self._validator.check_schema(self._validator.schema)
        self._native = "json" if loads is None and self._validator is None else None

    def __call__(self, value: bytes, ctx: SerializationContext) -> Any:
        import json

        try:
            data = (self._loads or json.loads)(value)
        except (ValueError, TypeError) as e:
            raise SerializationError(str(e)) from e
        if self._validator is not None:
            try:
                self._validator.validate(data)
            except Exception as e:  # jsonschema.ValidationError
                raise SerializationError(str(e)) from e
        return data


class JSONSerializer(_Native, Serializer):
    """JSON, written natively. With a custom ``dumps``, a ``schema`` or a ``validator`` it runs
    in Python per message."""

    def __init__(self, dumps: Optional[Callable[[Any], Union[str, bytes]]] = None,
                 schema: Optional[Mapping] = None, validator: Any = None,
                 schema_registry_client_config: Any = None,
                 schema_registry_serialization_config: Any = None):
        if schema_registry_client_config is not None:
            raise NotImplementedError("JSONSerializer(schema_registry_client_config=...): "
                                      "Schema Registry is not supported yet")
        self._dumps = dumps
        self._validator = _json_validator(schema, validator)
        if self._validator is not None:
            self._validator.check_schema(self._validator.schema)
        self._native = "json" if dumps is None and self._validator is None else None

    def __call__(self, value: Any, ctx: SerializationContext) -> Union[str, bytes]:
        import json

        if self._validator is not None:
            try:
                self._validator.validate(value)
            except Exception as e:  # jsonschema.ValidationError
                raise SerializationError(str(e)) from e
        if self._dumps is not None:
            return self._dumps(value)
        try:
            return json.dumps(value, separators=(",", ":"))
        except (ValueError, TypeError) as e:
            raise SerializationError(str(e)) from e


def _not_supported(name: str) -> type:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{name}: not supported by streamframe yet")

    return type(name, (), {"__init__": refuse, "__doc__": f"{name}: not supported yet."})


# Quix Streams' formats streamframe does not have yet (PY-05): refused when made.
QuixDeserializer = _not_supported("QuixDeserializer")
QuixTimeseriesSerializer = _not_supported("QuixTimeseriesSerializer")
QuixEventsSerializer = _not_supported("QuixEventsSerializer")

from .avro import AvroDeserializer, AvroSerializer  # noqa: E402 (they build on the above)
from .protobuf import ProtobufDeserializer, ProtobufSerializer  # noqa: E402
from .schema_registry import (  # noqa: E402
    SchemaRegistryClientConfig,
    SchemaRegistrySerializationConfig,
)

__all__ = [
    "SerializationContext",
    "Serializer",
    "Deserializer",
    "IgnoreMessage",
    "SerializationError",
    "BytesDeserializer",
    "BytesSerializer",
    "StringDeserializer",
    "StringSerializer",
    "IntegerDeserializer",
    "IntegerSerializer",
    "DoubleDeserializer",
    "DoubleSerializer",
    "JSONDeserializer",
    "JSONSerializer",
    "AvroSerializer",
    "AvroDeserializer",
    "SchemaRegistryClientConfig",
    "SchemaRegistrySerializationConfig",
    "ProtobufSerializer",
    "ProtobufDeserializer",
    "QuixDeserializer",
    "QuixTimeseriesSerializer",
    "QuixEventsSerializer",
]
