"""Avro serdes from Python with Quix Streams' classes (TOP-06, TOP-08): fastavro's bytes read
and written natively; through a real schema registry (scripts/registry) in Confluent's wire
format, against Confluent's own Python serializers (confluent-kafka, installed with
quixstreams): records confluent_kafka's AvroSerializer wrote are read by streamframe, and what
streamframe writes is read back by confluent_kafka's AvroDeserializer, field for field."""

import io
import json

import pytest

import streamframe as sf
from streamframe.models.serializers import SerializationError
from streamframe.models.serializers.avro import AvroDeserializer, AvroSerializer
from streamframe.models.serializers.schema_registry import (
    SchemaRegistryClientConfig,
    SchemaRegistrySerializationConfig,
)

fastavro = pytest.importorskip("fastavro")

SCHEMA = {
    "type": "record", "name": "Click", "namespace": "web",
    "fields": [
        {"name": "user", "type": "string"},
        {"name": "page", "type": "string"},
        {"name": "ms", "type": "long"},
        {"name": "score", "type": "double"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["VIEW", "BUY"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "ref", "type": ["null", "string"], "default": None},
    ],
}

CLICKS = [
    {"user": "ann", "page": "/a", "ms": 1000, "score": 0.5, "kind": "VIEW", "tags": ["x"],
     "ref": None},
    {"user": "bob", "page": "/b", "ms": 2000, "score": 1.25, "kind": "BUY", "tags": [],
     "ref": "mail"},
    {"user": "ann", "page": "/c", "ms": 3000, "score": -2.0, "kind": "VIEW", "tags": ["y", "z"],
     "ref": None},
]


def fastavro_bytes(record):
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(SCHEMA), record)
    return out.getvalue()


def test_native_avro_reads_and_writes_fastavro_bytes():
    ser = AvroSerializer(SCHEMA)
    de = AvroDeserializer(SCHEMA)
    for click in CLICKS:
        assert ser(click) == fastavro_bytes(click)
        assert de(fastavro_bytes(click)) == click
    with pytest.raises(SerializationError, match="field 'kind': 'LOST' is not a symbol"):
        ser({**CLICKS[0], "kind": "LOST"})
    with pytest.raises(SerializationError, match="cannot decode"):
        de(fastavro_bytes(CLICKS[0])[:5])


def test_a_reader_schema_reads_older_records_with_its_defaults():
    reader = {**SCHEMA, "fields": [f for f in SCHEMA["fields"] if f["name"] != "tags"]
              + [{"name": "country", "type": "string", "default": "NL"}]}
    de = AvroDeserializer(SCHEMA, reader_schema=reader)
    for click in CLICKS:
        expected = {k: v for k, v in click.items() if k != "tags"}
        assert de(fastavro_bytes(click)) == {**expected, "country": "NL"}
        # What fastavro makes of the same pair of schemas.
        assert fastavro.schemaless_reader(io.BytesIO(fastavro_bytes(click)),
                                          fastavro.parse_schema(SCHEMA),
                                          fastavro.parse_schema(reader)) == de(fastavro_bytes(click))


def test_unsupported_quix_options_are_refused_when_made():
    with pytest.raises(NotImplementedError, match="return_record_name"):
        AvroDeserializer(SCHEMA, return_record_name=True)
    with pytest.raises(NotImplementedError, match="use_latest_version"):
        SchemaRegistrySerializationConfig(use_latest_version=True)
    with pytest.raises(NotImplementedError, match="subject_name_strategy"):
        SchemaRegistrySerializationConfig(subject_name_strategy=lambda ctx, name: "x")
    with pytest.raises(sf.ConfigError, match="invalid Avro schema"):
        AvroSerializer({"type": "record"})


def test_a_pipeline_on_the_embedded_broker_reads_and_writes_avro(embedded_app, name):
    app = embedded_app()
    source = app.topic(name("in"), value_deserializer=AvroDeserializer(SCHEMA))
    out_schema = {"type": "record", "name": "Scored", "fields": [
        {"name": "user", "type": "string"}, {"name": "score2", "type": "double"}]}
    sink = app.topic(name("out"), value_serializer=AvroSerializer(out_schema),
                     value_deserializer=AvroDeserializer(out_schema))
    with app.get_producer() as producer:
        for click in CLICKS:
            producer.produce(source.name, value=fastavro_bytes(click), key=click["user"].encode())
    sdf = app.dataframe(source)
    sdf["score2"] = sdf["score"] * 2
    sdf = sdf[["user", "score2"]]
    sdf.to_topic(sink)
    assert len(app.run(count=3, timeout=20)) == 3
    # The bytes on the output topic are fastavro's for the output schema.
    with app.get_consumer() as consumer:
        consumer.subscribe([sink.name])
        written = []
        while len(written) < 3:
            message = consumer.poll(10)
            assert message is not None, f"only {len(written)} of 3 outputs"
            written.append(message.value())
    expected = [{"user": c["user"], "score2": c["score"] * 2} for c in CLICKS]
    assert [fastavro.schemaless_reader(io.BytesIO(b), fastavro.parse_schema(out_schema))
            for b in written] == expected


def test_confluent_kafka_and_streamframe_read_each_others_records(brokers, schema_registry, name,
                                                                  tmp_path):
    ck = pytest.importorskip("confluent_kafka")
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer as CKAvroDeserializer
    from confluent_kafka.schema_registry.avro import AvroSerializer as CKAvroSerializer
    from confluent_kafka.serialization import MessageField
    from confluent_kafka.serialization import SerializationContext as CKContext

    url, user_info = schema_registry
    in_topic, out_topic = name("ck-in"), name("ck-out")
    config = SchemaRegistryClientConfig(url=url, basic_auth_user_info=user_info)
    app = sf.Application(brokers, consumer_group=name("g"), auto_offset_reset="earliest",
                         state_dir=str(tmp_path / "state"), loglevel="ERROR")
    # Declaring the topics creates them (the test broker does not create topics on use).
    source = app.topic(in_topic,
                       value_deserializer=AvroDeserializer(schema_registry_client_config=config))
    sink = app.topic(out_topic, value_serializer=AvroSerializer(
        SCHEMA, schema_registry_client_config=config,
        schema_registry_serialization_config=SchemaRegistrySerializationConfig()))

    registry = SchemaRegistryClient(
        {"url": url, **({"basic.auth.user.info": user_info} if user_info else {})})
    ck_ser = CKAvroSerializer(registry, json.dumps(SCHEMA))
    producer = ck.Producer({"bootstrap.servers": brokers})
    for click in CLICKS:
        producer.produce(in_topic, key=click["user"],
                         value=ck_ser(click, CKContext(in_topic, MessageField.VALUE)))
    assert producer.flush(20) == 0
    sdf = app.dataframe(source)
    sdf["score"] = sdf["score"] + 1
    sdf.to_topic(sink)
    assert app.run(count=3, timeout=30) == [{**c, "score": c["score"] + 1} for c in CLICKS]

    ck_de = CKAvroDeserializer(registry)
    consumer = ck.Consumer({"bootstrap.servers": brokers, "group.id": name("ck-g"),
                            "auto.offset.reset": "earliest"})
    consumer.subscribe([out_topic])
    read = []
    while len(read) < 3:
        m = consumer.poll(20)
        assert m is not None, f"only {len(read)} of 3 records came back"
        assert m.error() is None, m.error()
        read.append(ck_de(m.value(), CKContext(out_topic, MessageField.VALUE)))
    consumer.close()
    assert read == [{**c, "score": c["score"] + 1} for c in CLICKS]
    # Same schema text under two subjects: one id, the one Confluent's serializer put in bytes 1-4.
    assert registry.get_latest_version(f"{out_topic}-value").schema_id == \
        registry.get_latest_version(f"{in_topic}-value").schema_id
