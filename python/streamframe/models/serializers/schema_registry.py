"""Schema Registry settings with Quix Streams' names
(``quixstreams.models.serializers.schema_registry``). The registry is reached natively (libcurl),
without the GIL; records use Confluent's wire format (a zero byte, the 4-byte schema id, then
the payload)."""

from datetime import timedelta
from typing import Any, Callable, Dict, Optional, Union

__all__ = ["SchemaRegistryClientConfig", "SchemaRegistrySerializationConfig"]


def _secret(value: Any) -> Optional[str]:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)  # pydantic's SecretStr, as Quix takes it
    return getter() if getter is not None else str(value)


class SchemaRegistryClientConfig:
    """How to reach a Schema Registry: ``url`` (Confluent's, or another registry's
    Confluent-compatible API such as Apicurio's ``.../apis/ccompat/v7``), TLS files, and
    ``basic_auth_user_info`` as ``"user:password"``. ``timeout`` (seconds or a timedelta,
    streamframe's own) bounds each request: a registry that is down or silent fails the record
    with a SerializationError instead of hanging."""

    def __init__(
        self,
        url: str,
        ssl_ca_location: Optional[str] = None,
        ssl_key_location: Optional[str] = None,
        ssl_certificate_location: Optional[str] = None,
        basic_auth_user_info: Any = None,
        timeout: Union[float, timedelta] = 10.0,
    ):
        self.url = url
        self.ssl_ca_location = ssl_ca_location
        self.ssl_key_location = ssl_key_location
        self.ssl_certificate_location = ssl_certificate_location
        self.basic_auth_user_info = basic_auth_user_info
        self.timeout = timeout

    def _as_dict(self) -> Dict[str, Any]:
        seconds = (self.timeout.total_seconds() if isinstance(self.timeout, timedelta)
                   else float(self.timeout))
        return {
            "url": self.url,
            "ssl_ca_location": self.ssl_ca_location,
            "ssl_key_location": self.ssl_key_location,
            "ssl_certificate_location": self.ssl_certificate_location,
            "basic_auth_user_info": _secret(self.basic_auth_user_info),
            "timeout_ms": int(seconds * 1000),
        }


# confluent_kafka.schema_registry's strategy functions, by name.
_STRATEGIES = {
    "topic_subject_name_strategy": "topic_name",
    "record_subject_name_strategy": "record_name",
    "topic_record_subject_name_strategy": "topic_record_name",
}


class SchemaRegistrySerializationConfig:
    """How a serializer finds its schema's id: registered at the first record
    (``auto_register_schemas=True``) or only looked up, under the subject that
    ``subject_name_strategy`` names: confluent_kafka.schema_registry's
    ``topic_subject_name_strategy`` (default), ``record_subject_name_strategy`` or
    ``topic_record_subject_name_strategy``, or their names ``"topic_name"``, ``"record_name"``,
    ``"topic_record_name"``. Other callables and the options streamframe does not have raise
    NotImplementedError when made. A Protobuf file's imports are registered as references under
    their file names; the well-known ones (``google/protobuf/...``, ``google/type/...``) are
    not, whatever ``skip_known_types`` says (Δ: registries know them)."""

    def __init__(
        self,
        auto_register_schemas: bool = True,
        normalize_schemas: bool = False,
        use_latest_version: bool = False,
        subject_name_strategy: Union[str, Callable[..., str], None] = None,
        skip_known_types: bool = False,
        reference_subject_name_strategy: Optional[Callable[..., str]] = None,
        use_deprecated_format: bool = False,
    ):
        for flag, name in ((normalize_schemas, "normalize_schemas"),
                           (use_latest_version, "use_latest_version"),
                           (use_deprecated_format, "use_deprecated_format")):
            if flag:
                raise NotImplementedError(
                    f"SchemaRegistrySerializationConfig({name}=True): not supported by "
                    f"streamframe yet")
        if reference_subject_name_strategy is not None and getattr(
                reference_subject_name_strategy, "__name__", "") != "reference_subject_name_strategy":
            raise NotImplementedError(
                "SchemaRegistrySerializationConfig(reference_subject_name_strategy=...): "
                "streamframe registers a Protobuf file's imports under their file names "
                "(confluent_kafka.schema_registry's reference_subject_name_strategy)")
        if subject_name_strategy is None:
            strategy = "topic_name"
        elif isinstance(subject_name_strategy, str):
            strategy = subject_name_strategy
        else:
            strategy = _STRATEGIES.get(getattr(subject_name_strategy, "__name__", ""), "")
            if not strategy:
                raise NotImplementedError(
                    "SchemaRegistrySerializationConfig(subject_name_strategy=...): streamframe "
                    "takes confluent_kafka.schema_registry's topic_subject_name_strategy, "
                    "record_subject_name_strategy or topic_record_subject_name_strategy, not "
                    f"{subject_name_strategy!r}")
        if strategy not in _STRATEGIES.values():
            raise ValueError(f"subject_name_strategy={strategy!r}: expected one of "
                             f"{', '.join(_STRATEGIES.values())}")
        self.auto_register_schemas = auto_register_schemas
        self.subject_name_strategy = strategy
        self.skip_known_types = skip_known_types
        self.reference_subject_name_strategy = reference_subject_name_strategy

    def _as_dict(self) -> Dict[str, Any]:
        return {
            "auto_register_schemas": bool(self.auto_register_schemas),
            "subject_name_strategy": self.subject_name_strategy,
        }
