"""JSON Schema on the JSON serdes from Python with Quix Streams' classes (TOP-05, TOP-08):
``JSONSerializer(schema=...)`` / ``JSONDeserializer(schema=...)`` validate natively (no
jsonschema), failures are SerializationErrors naming the failing path; through a real schema
registry (scripts/registry) in Confluent's wire format, against Confluent's own Python JSON serdes
(confluent-kafka, installed with quixstreams): records confluent_kafka's JSONSerializer wrote are
read by streamframe, and what streamframe writes is read back by confluent_kafka's
JSONDeserializer, field for field."""

import json
import sys

import pytest

import streamframe as sf
from streamframe.models.serializers import (
    JSONDeserializer,
    JSONSerializer,
    SerializationContext,
    SerializationError,
)
from streamframe.models.serializers.schema_registry import (
    SchemaRegistryClientConfig,
    SchemaRegistrySerializationConfig,
)

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Reading",
    "type": "object",
    "properties": {
        "sensor": {"type": "string", "minLength": 1},
        "value": {"type": "number", "minimum": 0},
        "unit": {"enum": ["C", "F"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {"type": "object", "properties": {"room": {"type": "integer"}},
                  "required": ["room"]},
    },
    "required": ["sensor", "value"],
}

READINGS = [
    {"sensor": "s1", "value": 1.5, "unit": "C", "tags": ["a"], "where": {"room": 3}},
    {"sensor": "s2", "value": 0, "unit": "F", "tags": [], "where": {"room": 4}},
    {"sensor": "s3", "value": 20.25, "tags": ["x", "y"]},
]


def test_the_schema_serdes_run_natively_without_jsonschema(monkeypatch):
    # An import of jsonschema would fail now: the validation is the engine's.
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    ser = JSONSerializer(schema=SCHEMA)
    de = JSONDeserializer(schema=SCHEMA)
    assert ser._native_name() is not None and de._native_name() is not None
    for r in READINGS:
        # The bytes are the plain JSON serializer's.
        assert ser(r) == JSONSerializer()(r, None).encode()
        assert ser(r) == json.dumps(r, separators=(",", ":")).encode()
        assert de(ser(r)) == r
    with pytest.raises(SerializationError,
                       match="json serializer: schema validation failed at '/value': Expected "
                             "number greater than or equal to 0"):
        ser({**READINGS[0], "value": -1})
    with pytest.raises(SerializationError,
                       match="json deserializer: schema validation failed at '/where/room'"):
        de(b'{"sensor": "s", "value": 1, "where": {"room": "kitchen"}}')
    with pytest.raises(SerializationError, match="at '/tags/1'"):
        de(json.dumps({**READINGS[0], "tags": ["a", 2]}).encode())
    with pytest.raises(SerializationError, match="Missing required property 'sensor'"):
        ser({"value": 1})
    # The schema may be given as its JSON text too.
    with pytest.raises(SerializationError, match="at '/unit'"):
        JSONSerializer(schema=json.dumps(SCHEMA))({**READINGS[0], "unit": "K"})


def test_a_bad_schema_is_refused_when_made():
    with pytest.raises(sf.ConfigError, match="not a valid JSON Schema"):
        JSONSerializer(schema={"type": "nonsense"})
    with pytest.raises(sf.ConfigError, match="the schema is not JSON"):
        JSONDeserializer(schema="{nope")
    with pytest.raises(ValueError, match="schema_registry_client_config"):
        JSONSerializer(schema=SCHEMA,
                       schema_registry_serialization_config=SchemaRegistrySerializationConfig())
    config = SchemaRegistryClientConfig(url="http://127.0.0.1:9")
    with pytest.raises(sf.ConfigError, match="title"):
        JSONSerializer(schema={"type": "object"}, schema_registry_client_config=config,
                       schema_registry_serialization_config=SchemaRegistrySerializationConfig(
                           subject_name_strategy="record_name"))
    with pytest.raises(NotImplementedError, match="custom dumps or validator"):
        JSONSerializer(dumps=json.dumps, schema_registry_client_config=config)


def test_a_record_failing_the_schema_is_skipped_by_the_error_callback(embedded_app, name):
    seen = []

    def on_consumer_error(exc, message, logger):
        seen.append((type(exc), str(exc)))
        return True  # skip the message

    app = embedded_app(on_consumer_error=on_consumer_error)
    topic = app.topic(name("in"), value_deserializer=JSONDeserializer(schema=SCHEMA))
    app.dataframe(topic)
    with app.get_producer() as producer:
        producer.produce(topic.name, value=json.dumps(READINGS[0]).encode(), key=b"a")
        producer.produce(topic.name, value=json.dumps({"sensor": "", "value": 1}).encode(),
                         key=b"b")
        producer.produce(topic.name, value=json.dumps(READINGS[1]).encode(), key=b"c")
    assert app.run(count=2, timeout=20) == [READINGS[0], READINGS[1]]
    assert len(seen) == 1
    assert seen[0][0] is SerializationError
    assert seen[0][1].startswith("json deserializer: schema validation failed at '/sensor': ")
    assert f"(topic '{topic.name}', partition 0, offset 1)" in seen[0][1]


def _registry(schema_registry):
    from confluent_kafka.schema_registry import SchemaRegistryClient

    url, user_info = schema_registry
    return SchemaRegistryClient(
        {"url": url, **({"basic.auth.user.info": user_info} if user_info else {})})


def test_confluent_kafka_and_streamframe_read_each_others_json_records(brokers, schema_registry,
                                                                       name, tmp_path):
    ck = pytest.importorskip("confluent_kafka")
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CKJSONDeserializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer as CKJSONSerializer
    from confluent_kafka.serialization import MessageField
    from confluent_kafka.serialization import SerializationContext as CKContext

    url, user_info = schema_registry
    in_topic, out_topic = name("ckj-in"), name("ckj-out")
    config = SchemaRegistryClientConfig(url=url, basic_auth_user_info=user_info)
    app = sf.Application(brokers, consumer_group=name("g"), auto_offset_reset="earliest",
                         state_dir=str(tmp_path / "state"), loglevel="ERROR")
    source = app.topic(in_topic,
                       value_deserializer=JSONDeserializer(schema_registry_client_config=config))
    sink = app.topic(out_topic, value_serializer=JSONSerializer(
        schema=SCHEMA, schema_registry_client_config=config,
        schema_registry_serialization_config=SchemaRegistrySerializationConfig()))

    registry = _registry(schema_registry)
    ck_ser = CKJSONSerializer(json.dumps(SCHEMA), registry)
    producer = ck.Producer({"bootstrap.servers": brokers})
    for r in READINGS:
        producer.produce(in_topic, key=r["sensor"],
                         value=ck_ser(r, CKContext(in_topic, MessageField.VALUE)))
    assert producer.flush(20) == 0
    sdf = app.dataframe(source)
    sdf["value"] = sdf["value"] * 2
    sdf.to_topic(sink)
    expected = [{**r, "value": r["value"] * 2} for r in READINGS]
    assert app.run(count=3, timeout=30) == expected

    ck_de = CKJSONDeserializer(None, schema_registry_client=registry)
    consumer = ck.Consumer({"bootstrap.servers": brokers, "group.id": name("ck-g"),
                            "auto.offset.reset": "earliest"})
    consumer.subscribe([out_topic])
    raw = []
    while len(raw) < 3:
        m = consumer.poll(20)
        assert m is not None, f"only {len(raw)} of 3 records came back"
        assert m.error() is None, m.error()
        raw.append(m.value())
    consumer.close()
    read = [ck_de(b, CKContext(out_topic, MessageField.VALUE)) for b in raw]
    assert read == expected
    # streamframe's frame carries the id its subject has in the registry.
    out_id = registry.get_latest_version(f"{out_topic}-value").schema_id
    assert all(b[0] == 0 and int.from_bytes(b[1:5], "big") == out_id for b in raw)
    assert registry.get_schema(out_id).schema_type == "JSON"
    # ... and what streamframe's serializer writes directly, confluent reads the same.
    direct = JSONSerializer(schema=SCHEMA, schema_registry_client_config=config)
    framed = direct(READINGS[2], SerializationContext(out_topic, "value"))
    assert ck_de(framed, CKContext(out_topic, MessageField.VALUE)) == READINGS[2]


def test_record_name_strategies_name_the_subject_after_the_title(schema_registry, name):
    pytest.importorskip("confluent_kafka")
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CKJSONDeserializer
    from confluent_kafka.serialization import MessageField
    from confluent_kafka.serialization import SerializationContext as CKContext

    url, user_info = schema_registry
    title = name("Title")
    schema = {**SCHEMA, "title": title}
    config = SchemaRegistryClientConfig(url=url, basic_auth_user_info=user_info)
    topic = name("ckj-rn")
    ser = JSONSerializer(schema=schema, schema_registry_client_config=config,
                         schema_registry_serialization_config=SchemaRegistrySerializationConfig(
                             subject_name_strategy="record_name"))
    framed = ser(READINGS[0], SerializationContext(topic, "value"))
    registry = _registry(schema_registry)
    assert int.from_bytes(framed[1:5], "big") == registry.get_latest_version(title).schema_id
    assert CKJSONDeserializer(None, schema_registry_client=registry)(
        framed, CKContext(topic, MessageField.VALUE)) == READINGS[0]
    # Read back natively against the registry, and refused against a stricter local schema.
    assert JSONDeserializer(schema_registry_client_config=config)(framed) == READINGS[0]
    strict = JSONDeserializer(schema={"properties": {"value": {"maximum": 1}}},
                              schema_registry_client_config=config)
    with pytest.raises(SerializationError, match="at '/value'"):
        strict(framed)
