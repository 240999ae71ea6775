"""streamframe.sources.community.mqtt.MQTTSource and streamframe.sinks.community.mqtt.MQTTSink
with Quix Streams' arguments against a real MQTT broker (scripts/mosquitto): a source keyed by
topic with Python setters, a sink publishing to <topic_root>/<key>, and what is refused."""

import json
import subprocess
import threading
import time
import uuid

import pytest

import streamframe as sf
from streamframe.sinks.community.mqtt import MQTTSink
from streamframe.sinks.core.list import ListSink
from streamframe.sources.community.mqtt import MQTTMessage, MQTTSource


def publish(mqtt, topic, lines, qos=1):
    host, port = mqtt
    subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-q", str(qos), "-t", topic,
                    "-l"], input="\n".join(lines) + "\n", text=True, check=True, timeout=30)


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_source_keys_by_topic_and_calls_python_setters(embedded_app, mqtt):
    root = f"py-mq-{uuid.uuid4().hex[:8]}"
    host, port = mqtt
    seen = []

    def value_setter(msg, payload):
        seen.append(type(msg).__name__)
        return {"topic": msg.topic, "payload": payload, "raw": msg.payload.decode()}

    source = MQTTSource(topic=f"{root}/#", client_id=f"{root}-src", server=host, port=port,
                        tls_enabled=False, value_setter=value_setter)
    app = embedded_app()
    rows = ListSink(metadata=True)
    app.dataframe(source=source).sink(rows)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        assert wait_for(lambda: (publish(mqtt, f"{root}/probe", ['{"p":1}'], qos=0), len(rows))[1])
        publish(mqtt, f"{root}/a/b", ['{"t": 1}', '{"t": 2, "_key": "k2"}'])
        assert wait_for(lambda: len([r for r in rows if r["topic"] != f"{root}/probe"]) >= 2)
    finally:
        app.stop()
        runner.join()
    got = {r["payload"]["t"]: r for r in rows if r["topic"] == f"{root}/a/b"}
    assert got[1]["_key"] == f"{root}/a/b"
    assert got[2]["_key"] == "k2"
    assert got[1]["raw"] == '{"t": 1}'
    assert set(seen) == {"MQTTMessage"}


def test_sink_publishes_to_topic_root_and_key(embedded_app, mqtt):
    root = f"py-mqs-{uuid.uuid4().hex[:8]}"
    host, port = mqtt
    sub_id = f"{root}-sub"
    args = ["mosquitto_sub", "-h", host, "-p", str(port), "-q", "1", "-c", "-i", sub_id, "-t",
            f"{root}/#"]
    subprocess.run(args + ["-E"], check=True, timeout=30)
    app = embedded_app()
    topic = app.topic("in")
    app.dataframe(topic).sink(MQTTSink(client_id=f"{root}-sink", server=host, port=port,
                                       topic_root=root, tls_enabled=False))
    with app.get_producer() as producer:
        for i in range(5):
            producer.produce(topic.name, key=f"dev{i % 2}".encode(), value=json.dumps({"i": i}))
    app.run(count=5)
    out = subprocess.run(args + ["-v", "-C", "5", "-W", "20"], capture_output=True, text=True,
                         timeout=40).stdout.splitlines()
    got = sorted((line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1])["i"]) for line in out)
    assert got == [(f"{root}/dev0", 0), (f"{root}/dev0", 2), (f"{root}/dev0", 4),
                   (f"{root}/dev1", 1), (f"{root}/dev1", 3)]


def test_refused_arguments(mqtt):
    host, port = mqtt
    with pytest.raises(ValueError, match="QoS level 2"):
        MQTTSource(topic="t", client_id="c", server=host, port=port, qos=2)
    with pytest.raises(ValueError, match="Invalid MQTT version"):
        MQTTSink(client_id="c", server=host, port=port, topic_root="r", version="4")
    with pytest.raises(NotImplementedError, match="payload_deserializer"):
        MQTTSource(topic="t", client_id="c", server=host, port=port,
                   payload_deserializer=lambda b: b)
    with pytest.raises(NotImplementedError, match="properties"):
        MQTTSink(client_id="c", server=host, port=port, topic_root="r", properties=object())
    assert MQTTMessage("t", b"x", 1, False, 1.5).topic == "t"
