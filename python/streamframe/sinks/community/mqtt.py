"""MQTTSink with Quix Streams' names (``quixstreams.sinks.community.mqtt``), published by the
engine through libmosquitto (no paho-mqtt needed)."""

import json
from typing import Any, Callable, Literal, Optional, Union

from ..._core import _mqtt_sink
from .. import ClientConnectFailureCallback, ClientConnectSuccessCallback
from .._native import NativeBatchingSink

ProtocolVersion = Literal["3.1", "3.1.1", "5"]


class MQTTSink(NativeBatchingSink):
    """Publishes each record to ``<topic_root>/<key>`` (QoS 1 by default); each checkpoint waits
    up to ``mqtt_flush_timeout_seconds`` for the broker's acknowledgements before the input
    offsets commit (at-least-once). A broker that is away, or slow to acknowledge, pauses the
    input for ``retry_after_seconds`` and the records since the checkpoint are published again
    (Δ: Quix Streams raises MqttPublishAckTimeout and stops).

    The default serializers run in the engine: the key as its text, the value as compact JSON
    (Δ: ``json.dumps`` puts spaces after ``:`` and ``,``); callables you pass run in Python."""

    def __init__(self, client_id: str, server: str, port: int, topic_root: str,
                 username: Optional[str] = None, password: Optional[str] = None,
                 version: ProtocolVersion = "3.1.1", tls_enabled: bool = True,
                 key_serializer: Callable[[Any], str] = bytes.decode,
                 value_serializer: Callable[[Any], str] = json.dumps,
                 qos: Literal[0, 1] = 1, mqtt_flush_timeout_seconds: int = 10,
                 retain: Union[bool, Callable[[Any], bool]] = False,
                 properties: Optional[Any] = None,
                 on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None,
                 retry_after_seconds: float = 5.0):
        super().__init__(on_client_connect_success, on_client_connect_failure)
        if qos == 2:
            raise ValueError("MQTT QoS level 2 is currently not supported.")
        if version not in ("3.1", "3.1.1", "5"):
            raise ValueError(f"Invalid MQTT version {version}; valid: ('3.1', '3.1.1', '5')")
        if properties is not None:
            raise NotImplementedError("MQTTSink(properties=...): MQTT 5 properties are not "
                                      "supported by streamframe")
        self._native = _mqtt_sink(
            client_id, server, int(port), topic_root, username or "", password or "", version,
            bool(tls_enabled), None if key_serializer is bytes.decode else key_serializer,
            None if value_serializer is json.dumps else value_serializer, int(qos),
            float(mqtt_flush_timeout_seconds), retain, float(retry_after_seconds),
            on_client_connect_success, on_client_connect_failure)


__all__ = ["MQTTSink"]
