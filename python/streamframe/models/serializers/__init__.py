"""Serializers and deserializers with Quix Streams' names (``quixstreams.models.serializers``).

``app.topic(name, value_deserializer=JSONDeserializer())`` is the same as
``value_deserializer="json"``: the built-in formats run natively, without the GIL. A subclass of
``Serializer`` or ``Deserializer`` written in Python (``__call__(value, ctx)``) is called per
message with the GIL held (PY-03); what it raises goes through the application's error
callbacks (``on_consumer_error`` for a deserializer, ``on_processing_error`` for a serializer),
and ``IgnoreMessage`` raised by a deserializer drops the message.
"""

import json
from typing import Any, Callable, Iterable, List, Mapping, Optional, Tuple, Union

from ... import _core
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
        raise ImportError("JSON Schema validation in Python needs the jsonschema package "
                          "(pip install jsonschema)") from e
    return Draft202012Validator(schema)


def _json_schema_text(schema: Union[Mapping[str, Any], str, bool]) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema)


def _registry_dicts(name: str, client: Any, serialization: Any = None) -> Tuple[Any, Any]:
    if serialization is not None and client is None:
        raise ValueError(f"{name}: schema_registry_serialization_config needs "
                         f"schema_registry_client_config")
    if client is None:
        return None, None
    from .schema_registry import SchemaRegistrySerializationConfig

    return client._as_dict(), (serialization or SchemaRegistrySerializationConfig())._as_dict()


class JSONDeserializer(_Native, Deserializer):
    """JSON, parsed natively. With a ``schema`` (a JSON Schema as a dict or its JSON text) each
    record is validated natively too (valijson: drafts 4 and 7; docs/behaviour.md TOP-05), a
    failure raising SerializationError naming the failing path. With
    ``schema_registry_client_config`` records are read in Confluent's wire format and validated
    against the schema their id names, or against ``schema`` when given. A custom ``loads`` or
    ``validator`` runs in Python per message (like any Python deserializer), ``schema`` then
    validated with jsonschema's Draft 2020-12 as Quix Streams does."""

    def __init__(self, loads: Optional[Callable[[bytes], Any]] = None,
                 schema: Optional[Mapping] = None, validator: Any = None,
                 schema_registry_client_config: Any = None):
        self._loads = loads
        self._validator = None
        self._handle = None
        if loads is not None or validator is not None:
            if schema_registry_client_config is not None:
                raise NotImplementedError("JSONDeserializer(schema_registry_client_config=...) "
                                          "with a custom loads or validator: not supported by "
                                          "streamframe yet")
            self._validator = _json_validator(schema, validator)
            if self._validator is not None:
                self._validator.check_schema(self._validator.schema)
            self._native = None
        elif schema is not None or schema_registry_client_config is not None:
            registry, _ = _registry_dicts("JSONDeserializer", schema_registry_client_config)
            self._handle = _core.json_deserializer(
                _json_schema_text(schema) if schema is not None else None, registry)
        else:
            self._native = "json"

    def _native_name(self) -> Any:
        return self._handle if self._handle is not None else self._native

    def __call__(self, value: bytes, ctx: Optional[SerializationContext] = None) -> Any:
        if self._handle is not None:
            return self._handle.deserialize(value)
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
    """JSON, written natively. With a ``schema`` (a JSON Schema as a dict or its JSON text) each
    value is validated natively first (valijson: drafts 4 and 7; docs/behaviour.md TOP-05), a
    failure raising SerializationError naming the failing path. With
    ``schema_registry_client_config`` the bytes are framed in Confluent's wire format with the
    id of ``schema`` (schemaType JSON) under the subject ``schema_registry_serialization_config``
    names (the record-name strategies use the schema's ``title``). A custom ``dumps`` or
    ``validator`` runs in Python per message, ``schema`` then validated with jsonschema's Draft
    2020-12 as Quix Streams does."""

    def __init__(self, dumps: Optional[Callable[[Any], Union[str, bytes]]] = None,
                 schema: Optional[Mapping] = None, validator: Any = None,
                 schema_registry_client_config: Any = None,
                 schema_registry_serialization_config: Any = None):
        self._dumps = dumps
        self._validator = None
        self._handle = None
        if dumps is not None or validator is not None:
            if schema_registry_client_config is not None:
                raise NotImplementedError("JSONSerializer(schema_registry_client_config=...) "
                                          "with a custom dumps or validator: not supported by "
                                          "streamframe yet")
            self._validator = _json_validator(schema, validator)
            if self._validator is not None:
                self._validator.check_schema(self._validator.schema)
            self._native = None
        elif schema is not None or schema_registry_client_config is not None:
            registry, serialization = _registry_dicts(
                "JSONSerializer", schema_registry_client_config,
                schema_registry_serialization_config)
            self._handle = _core.json_serializer(
                _json_schema_text(schema) if schema is not None else None, registry,
                serialization)
        else:
            if schema_registry_serialization_config is not None:
                raise ValueError("JSONSerializer: schema_registry_serialization_config needs "
                                 "schema_registry_client_config")
            self._native = "json"

    def _native_name(self) -> Any:
        return self._handle if self._handle is not None else self._native

    def __call__(self, value: Any, ctx: Optional[SerializationContext] = None) -> Union[str, bytes]:
        if self._handle is not None:
            topic = ctx.topic if ctx is not None else None
            return self._handle.serialize(value, topic, ctx is not None and ctx.field == "key")
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
