"""Avro serdes with Quix Streams' names and arguments
(``quixstreams.models.serializers.avro``), run natively by the engine (libavro): one datum per
message as fastavro's schemaless writer and reader make it, or Confluent's wire format with a
Schema Registry. Δ from Quix Streams (fastavro): bytes and fixed fields arrive as ``str``
(undecodable bytes surrogate-escaped, and written back as the same bytes), a date as
``"YYYY-MM-DD"``, a decimal as an exact decimal ``str``, timestamps and times as the encoded
``int``; docs/behaviour.md TOP-06 has the whole mapping."""

import json
from typing import Any, Mapping, Optional, Union

from ... import _core
from . import Deserializer, SerializationContext, Serializer, _registry_dicts
from .schema_registry import SchemaRegistryClientConfig, SchemaRegistrySerializationConfig

__all__ = ["AvroSerializer", "AvroDeserializer"]

Schema = Union[Mapping[str, Any], str, list]


def _schema_text(schema: Schema) -> str:
    return schema if isinstance(schema, str) and schema.lstrip()[:1] in "{[\"" else json.dumps(schema)


class AvroSerializer(Serializer):
    """Writes each value as an Avro datum of ``schema`` (a dict as fastavro takes it, or its JSON
    text). ``strict`` / ``strict_allow_default`` as fastavro's. With
    ``schema_registry_client_config`` the record is framed with the schema's registry id."""

    def __init__(
        self,
        schema: Schema,
        strict: bool = False,
        strict_allow_default: bool = False,
        disable_tuple_notation: bool = False,
        schema_registry_client_config: Optional[SchemaRegistryClientConfig] = None,
        schema_registry_serialization_config: Optional[SchemaRegistrySerializationConfig] = None,
    ):
        # disable_tuple_notation only turns off a fastavro reading of tuples streamframe never
        # had: accepted either way.
        registry, serialization = _registry_dicts(
            "AvroSerializer", schema_registry_client_config, schema_registry_serialization_config)
        self._handle = _core.avro_serializer(
            _schema_text(schema), bool(strict), bool(strict_allow_default),
            registry, serialization,
        )

    def _native_name(self) -> Any:
        return self._handle

    def __call__(self, value: Any, ctx: Optional[SerializationContext] = None) -> bytes:
        topic = ctx.topic if ctx is not None else None
        return self._handle.serialize(value, topic, ctx is not None and ctx.field == "key")


class AvroDeserializer(Deserializer):
    """Reads each message as an Avro datum of ``schema`` (the writer's schema), as
    ``reader_schema`` when given (Avro's schema resolution: the reader's defaults, promotions,
    aliases). With ``schema_registry_client_config`` each record is read in Confluent's wire
    format with the writer schema its id names, and ``schema``, when given, is the schema to
    read as (as Quix Streams does). The ``return_*`` options raise NotImplementedError."""

    def __init__(
        self,
        schema: Optional[Schema] = None,
        reader_schema: Optional[Schema] = None,
        return_record_name: bool = False,
        return_record_name_override: bool = False,
        return_named_type: bool = False,
        return_named_type_override: bool = False,
        handle_unicode_errors: str = "strict",
        schema_registry_client_config: Optional[SchemaRegistryClientConfig] = None,
    ):
        for flag, name in ((return_record_name, "return_record_name"),
                           (return_record_name_override, "return_record_name_override"),
                           (return_named_type, "return_named_type"),
                           (return_named_type_override, "return_named_type_override"),
                           (handle_unicode_errors != "strict", "handle_unicode_errors")):
            if flag:
                raise NotImplementedError(f"AvroDeserializer({name}=...): not supported by "
                                          f"streamframe yet")
        if schema_registry_client_config is not None:
            if reader_schema is not None:
                raise ValueError("AvroDeserializer with a schema registry: give the schema to "
                                 "read as in schema, not reader_schema")
            writer, reader = None, schema
        else:
            if schema is None:
                raise TypeError("AvroDeserializer needs schema without a schema registry")
            writer, reader = schema, reader_schema
        self._handle = _core.avro_deserializer(
            _schema_text(writer) if writer is not None else None,
            _schema_text(reader) if reader is not None else None,
            _registry_dicts("AvroDeserializer", schema_registry_client_config)[0],
        )

    def _native_name(self) -> Any:
        return self._handle

    def __call__(self, value: bytes, ctx: Optional[SerializationContext] = None) -> Any:
        return self._handle.deserialize(value)
