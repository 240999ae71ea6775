"""Protobuf serdes with Quix Streams' names and arguments
(``quixstreams.models.serializers.protobuf``), run natively by the engine (libprotobuf): a
message maps to a dict by the proto3 JSON mapping, as ``json_format.MessageToDict`` and
``ParseDict`` do for Quix Streams (64-bit integers as strings, enums by name, Timestamp as an
RFC 3339 string, ...), or in Confluent's wire format with a Schema Registry. ``msg_type`` is
the generated message class; only its descriptors are used, so any ``protobuf`` runtime works.
Δ from Quix Streams: ``to_dict=False`` (rows that are message objects) raises
NotImplementedError; docs/behaviour.md TOP-07 has the whole mapping."""

from typing import Any, Optional, Tuple

from ... import _core
from . import Deserializer, SerializationContext, Serializer, _registry_dicts
from .schema_registry import SchemaRegistryClientConfig, SchemaRegistrySerializationConfig

__all__ = ["ProtobufSerializer", "ProtobufDeserializer"]


def _descriptor_set(msg_type: Any) -> Tuple[bytes, str]:
    """The FileDescriptorSet of ``msg_type``'s file and every file it imports, and the
    message's full name."""
    descriptor = getattr(msg_type, "DESCRIPTOR", None)
    if descriptor is None or not hasattr(descriptor, "full_name"):
        raise TypeError(f"msg_type must be a protobuf message class, not {msg_type!r}")
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet()
    seen = set()

    def add(file: Any) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(files.file.add())

    add(descriptor.file)
    return files.SerializeToString(), descriptor.full_name


class ProtobufSerializer(Serializer):
    """Writes each value (a dict, as ``ParseDict`` takes it) as a message of ``msg_type``.
    ``deterministic`` orders map entries; ``ignore_unknown_fields`` skips keys the message
    lacks. With ``schema_registry_client_config`` the record is framed with the registry id of
    the message's .proto file and its message indexes."""

    def __init__(
        self,
        msg_type: Any,
        deterministic: bool = False,
        ignore_unknown_fields: bool = False,
        schema_registry_client_config: Optional[SchemaRegistryClientConfig] = None,
        schema_registry_serialization_config: Optional[SchemaRegistrySerializationConfig] = None,
    ):
        registry, serialization = _registry_dicts(
            "ProtobufSerializer", schema_registry_client_config, schema_registry_serialization_config)
        self._msg_type = msg_type
        self._deterministic = bool(deterministic)
        descriptor_set, name = _descriptor_set(msg_type)
        self._handle = _core.protobuf_serializer(
            descriptor_set, name, self._deterministic, bool(ignore_unknown_fields),
            registry, serialization,
        )

    def _native_name(self) -> Any:
        return self._handle

    def __call__(self, value: Any, ctx: Optional[SerializationContext] = None) -> bytes:
        if isinstance(value, self._msg_type):  # a message object, as Quix takes it too
            from google.protobuf.json_format import MessageToDict

            value = MessageToDict(value, preserving_proto_field_name=True,
                                  descriptor_pool=value.DESCRIPTOR.file.pool)
        topic = ctx.topic if ctx is not None else None
        return self._handle.serialize(value, topic, ctx is not None and ctx.field == "key")


class ProtobufDeserializer(Deserializer):
    """Reads each message as a ``msg_type`` into a dict, as ``MessageToDict`` with
    ``always_print_fields_with_no_presence=True`` gives it (Quix Streams' call):
    ``use_integers_for_enums`` and ``preserving_proto_field_name`` as there. With
    ``schema_registry_client_config`` each record is read in Confluent's wire format (its
    schema id must name a Protobuf schema of the registry)."""

    def __init__(
        self,
        msg_type: Any,
        use_integers_for_enums: bool = False,
        preserving_proto_field_name: bool = False,
        to_dict: bool = True,
        schema_registry_client_config: Optional[SchemaRegistryClientConfig] = None,
    ):
        if not to_dict:
            raise NotImplementedError("ProtobufDeserializer(to_dict=False): rows are dicts in "
                                      "streamframe; message objects are not supported")
        descriptor_set, name = _descriptor_set(msg_type)
        self._handle = _core.protobuf_deserializer(
            descriptor_set, name, bool(use_integers_for_enums), bool(preserving_proto_field_name),
            _registry_dicts("ProtobufDeserializer", schema_registry_client_config)[0],
        )

    def _native_name(self) -> Any:
        return self._handle

    def __call__(self, value: bytes, ctx: Optional[SerializationContext] = None) -> Any:
        return self._handle.deserialize(value)
