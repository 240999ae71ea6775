"""MQTTSource with Quix Streams' names (``quixstreams.sources.community.mqtt``), run by the
engine through libmosquitto (no paho-mqtt needed)."""

import json
from typing import Any, Callable, Literal, Optional

from ... import _core
from .. import ClientConnectFailureCallback, ClientConnectSuccessCallback, Source, SourceTopic

ProtocolVersion = Literal["3.1", "3.1.1", "5"]


class MQTTMessage:
    """What the setters receive (paho's MQTTMessage has these attributes too); ``timestamp`` is
    the arrival's wall-clock time in seconds."""

    __slots__ = ("topic", "payload", "qos", "retain", "timestamp")

    def __init__(self, topic: str, payload: bytes, qos: int, retain: bool, timestamp: float):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return f"MQTTMessage(topic={self.topic!r}, payload={self.payload!r}, qos={self.qos})"


def _default_deserializer(message_payload: bytes) -> Any:
    return json.loads(message_payload.decode())


def _default_key_setter(msg: MQTTMessage, loaded_payload: Any) -> str:
    if isinstance(loaded_payload, dict) and "_key" in loaded_payload:
        return loaded_payload["_key"]
    return msg.topic


def _default_value_setter(msg: MQTTMessage, loaded_payload: Any) -> bytes:
    return msg.payload


def _default_timestamp_setter(msg: MQTTMessage, loaded_payload: Any) -> int:
    if isinstance(loaded_payload, dict) and "_timestamp" in loaded_payload:
        return int(loaded_payload["_timestamp"])
    return int(msg.timestamp * 1000)


class MQTTSource(Source):
    """Subscribes to ``topic`` (``+`` and ``#`` wildcards) and produces every message to its
    topic, ``source__<client_id>``: keyed by the MQTT topic (or the payload's ``_key``), the
    payload's bytes as the value, timestamped by the payload's ``_timestamp`` or the arrival.

    The engine runs the client; setters you pass are called with the GIL held in the source's
    thread. A lost connection is re-established (the subscription renewed) with backoff. With
    ``clean_session=False`` (the default here, Δ: paho starts clean) the broker keeps the
    subscription and queues QoS 1 messages while the source is away."""

    def __init__(self, topic: str, client_id: str, server: str, port: int,
                 username: Optional[str] = None, password: Optional[str] = None,
                 version: ProtocolVersion = "3.1.1", tls_enabled: bool = True,
                 key_setter: Callable[[MQTTMessage, Any], Any] = _default_key_setter,
                 value_setter: Callable[[MQTTMessage, Any], Any] = _default_value_setter,
                 timestamp_setter: Callable[[MQTTMessage, Any], int] = _default_timestamp_setter,
                 payload_deserializer: Optional[Callable[[Any], Any]] = _default_deserializer,
                 qos: Literal[0, 1] = 1,
                 on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None,
                 clean_session: bool = False, shutdown_timeout: float = 10):
        if qos == 2:
            raise ValueError("MQTT QoS level 2 is currently not supported.")
        if version not in ("3.1", "3.1.1", "5"):
            raise ValueError(f"Invalid MQTT version {version}; valid: ('3.1', '3.1.1', '5')")
        if payload_deserializer not in (None, _default_deserializer):
            raise NotImplementedError(
                "MQTTSource(payload_deserializer=...): streamframe parses payloads as JSON "
                "natively (the default) or not at all (None)")
        self.topic_filter = topic
        self._args = dict(
            client_id=client_id, server=server, port=int(port), username=username or "",
            password=password or "", version=version, tls_enabled=bool(tls_enabled),
            key_setter=None if key_setter is _default_key_setter else key_setter,
            value_setter=None if value_setter is _default_value_setter else value_setter,
            timestamp_setter=(None if timestamp_setter is _default_timestamp_setter
                              else timestamp_setter),
            parse_payload=payload_deserializer is not None, qos=int(qos),
            clean_session=bool(clean_session),
            on_client_connect_success=on_client_connect_success,
            on_client_connect_failure=on_client_connect_failure)
        super().__init__(name=client_id, shutdown_timeout=shutdown_timeout)

    def run(self) -> None:
        """Run by the engine: the Python method is not called."""
        raise NotImplementedError("MQTTSource.run() is run by the engine")

    def default_topic(self) -> SourceTopic:
        return SourceTopic(name=self.name, key_serializer="string", key_deserializer="string",
                           value_serializer="json", value_deserializer="json")

    def _make_impl(self) -> "_core.SourceImpl":
        return _core._mqtt_source(self.topic_filter,
                                  shutdown_timeout=float(self.shutdown_timeout), **self._args)


__all__ = ["MQTTSource", "MQTTMessage"]
