"""Serdes as objects (streamframe.models.serializers, Quix Streams' names): the built-in classes
run natively; Python subclasses are called per message, with IgnoreMessage, split_values,
extra_headers and errors through the application's callbacks."""

import json

import pytest

import streamframe as sf
from streamframe import _core
from streamframe.models import (
    Deserializer,
    DoubleSerializer,
    IgnoreMessage,
    IntegerDeserializer,
    JSONDeserializer,
    JSONSerializer,
    QuixDeserializer,
    SerializationContext,
    Serializer,
    StringDeserializer,
)


class Csv(Deserializer):
    """"name,reading" lines; "skip" lines are dropped; one message may hold several lines."""

    def __init__(self):
        super().__init__()
        self.contexts = []

    @property
    def split_values(self):
        return True

    def __call__(self, value, ctx):
        self.contexts.append((ctx.topic, ctx.field, ctx.headers))
        text = value.decode()
        if text == "skip":
            raise IgnoreMessage()
        rows = []
        for line in text.split("\n"):
            name, reading = line.split(",")  # a malformed line raises ValueError
            rows.append({"name": name, "reading": float(reading)})
        return rows


class Upper(Serializer):
    @property
    def extra_headers(self):
        return {"format": b"upper-csv"}

    def __call__(self, value, ctx):
        assert isinstance(ctx, SerializationContext) and ctx.field == "value"
        return f"{value['name'].upper()},{value['reading']}".encode()


def send(app, topic, messages):
    with app.get_producer() as producer:
        for i, payload in enumerate(messages):
            producer.produce(topic.name, value=payload, key=b"k", timestamp=1000 + i,
                             headers=[("h", b"1")] if i == 0 else None)


def test_builtin_serde_objects_run_natively(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"), value_deserializer=JSONDeserializer(),
                      key_deserializer=StringDeserializer())
    sdf = app.dataframe(topic)
    sdf["f"] = sdf["c"] * 2
    sdf = sdf.apply(lambda v, k, t, h: {**v, "key": k}, metadata=True)
    with app.get_producer() as producer:
        for i in range(50):
            producer.produce(topic.name, value=json.dumps({"c": i}), key="ké", timestamp=1000 + i)
    before = _core._callback_gil_count()
    out = app.run(count=50)
    assert out[3] == {"c": 3, "f": 6, "key": "ké"}  # str keys: the string deserializer
    assert _core._callback_gil_count() - before == 50  # the apply's calls, nothing per serde


def test_a_python_deserializer_splits_ignores_and_sees_its_context(embedded_app, name):
    app = embedded_app()
    csv = Csv()
    topic = app.topic(name("in"), value_deserializer=csv)
    sdf = app.dataframe(topic)
    sdf["f"] = sdf["reading"] * 10  # an expression after a Python deserializer
    send(app, topic, [b"a,1.5", b"skip", b"b,2\nc,3"])
    out = app.run(count=3, metadata=True)
    assert [(o["name"], o["f"], o["_offset"]) for o in out] == [
        ("a", 15.0, 0), ("b", 20.0, 2), ("c", 30.0, 2)]
    assert csv.contexts[0] == (topic.name, "value", [("h", b"1")])
    assert csv.contexts[1] == (topic.name, "value", None)


def test_a_python_deserializer_error_goes_to_on_consumer_error(embedded_app, name):
    seen = []

    def on_consumer_error(exc, message, logger):
        seen.append((type(exc), str(exc)))
        return True  # skip the message

    app = embedded_app(on_consumer_error=on_consumer_error)
    topic = app.topic(name("in"), value_deserializer=Csv())
    app.dataframe(topic)
    send(app, topic, [b"a,1", b"no comma", b"b,2"])
    out = app.run(count=2)
    assert [o["name"] for o in out] == ["a", "b"]
    assert seen == [(ValueError, "not enough values to unpack (expected 2, got 1)")]

    app = embedded_app()  # no callback: run() raises it
    topic = app.topic(name("in"), value_deserializer=Csv())
    app.dataframe(topic)
    send(app, topic, [b"no comma"])
    with pytest.raises(ValueError, match="not enough values"):
        app.run(count=1)


def test_a_python_serializer_writes_the_bytes_and_extra_headers(embedded_app, name):
    app = embedded_app()
    source = app.topic(name("in"))
    out_topic = app.topic(name("out"), value_serializer=Upper())
    app.dataframe(source).to_topic(out_topic)
    reader = app.topic(out_topic.name, value_deserializer="string")
    app.dataframe(reader)
    with app.get_producer() as producer:
        producer.produce(source.name, value=json.dumps({"name": "ab", "reading": 1.5}), key=b"k",
                         timestamp=5)
    # Two outputs: the record leaving to_topic(), and the same read back from the topic.
    out = [o for o in app.run(count=2, metadata=True) if o["_topic"] == out_topic.name]
    assert out[0]["_value"] == "AB,1.5"
    assert out[0]["_headers"] == [("format", b"upper-csv")]


def test_a_python_serializer_error_is_a_processing_error(embedded_app, name):
    class Broken(Serializer):
        def __call__(self, value, ctx):
            return 42  # neither bytes nor str

    app = embedded_app()
    source = app.topic(name("in"))
    app.dataframe(source).to_topic(app.topic(name("out"), value_serializer=Broken()))
    with app.get_producer() as producer:
        producer.produce(source.name, value=b"{}", key=b"k", timestamp=5)
    with pytest.raises(sf.SerializationError, match="must return bytes or str, not 'int'"):
        app.run(count=1, timeout=5)


def test_json_serdes_with_custom_functions_run_in_python(embedded_app, name):
    calls = []

    def loads(data):
        calls.append(data)
        return {"wrapped": json.loads(data)}

    app = embedded_app()
    source = app.topic(name("in"), value_deserializer=JSONDeserializer(loads=loads))
    out_topic = app.topic(name("out"),
                          value_serializer=JSONSerializer(dumps=lambda v: json.dumps(v)[::-1]))
    app.dataframe(source).to_topic(out_topic)
    app.dataframe(app.topic(out_topic.name, value_deserializer="string"))
    with app.get_producer() as producer:
        producer.produce(source.name, value=b"[1]", key=b"k", timestamp=5)
    out = [o for o in app.run(count=2, metadata=True) if o["_topic"] == out_topic.name]
    assert calls == [b"[1]"]
    assert out[0]["_value"] == json.dumps({"wrapped": [1]})[::-1]


def test_serdes_that_are_not_there_fail_at_definition(embedded_app, name):
    with pytest.raises(NotImplementedError, match="QuixDeserializer"):
        QuixDeserializer()
    with pytest.raises(NotImplementedError, match="UTF-8 only"):
        StringDeserializer(codec="latin-1")
    app = embedded_app()
    with pytest.raises(sf.ConfigError, match="serde name or a callable"):
        app.topic(name("in"), value_deserializer=42)
    with pytest.raises(sf.ConfigError, match="streamframe has the serdes"):
        app.topic(name("in"), value_deserializer="avro")
    # Natively: the classes' names.
    assert IntegerDeserializer()._native_name() == "int"
    assert DoubleSerializer()._native_name() == "double"
