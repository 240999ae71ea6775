"""Protobuf serdes from Python with Quix Streams' classes (TOP-07, TOP-08). The message types
are tests/proto/shop.proto, compiled by protoc into a descriptor set and made into classes by
the protobuf runtime (no generated modules). Differential: every dict streamframe reads is the
one ``json_format.MessageToDict`` gives for the same bytes (Quix Streams' own call), and every
dict streamframe writes parses back as ``ParseDict`` parses it. Through a real schema registry
(scripts/registry), against confluent-kafka's ProtobufSerializer and ProtobufDeserializer."""

import pathlib
import shutil
import subprocess

import pytest

import streamframe as sf
from streamframe.models.serializers import ProtobufDeserializer, ProtobufSerializer
from streamframe.models.serializers import SerializationError
from streamframe.models.serializers.schema_registry import (
    SchemaRegistryClientConfig,
    SchemaRegistrySerializationConfig,
)

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

PROTO_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "proto"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The classes of shop.proto, by message name."""
    protoc = shutil.which("protoc")
    assert protoc, "protoc (Debian's protobuf-compiler, scripts/setup) is not on PATH"
    out = tmp_path_factory.mktemp("proto") / "shop.desc"
    subprocess.run([protoc, f"-I{PROTO_DIR}", "-I/usr/include", "--include_imports",
                    f"--descriptor_set_out={out}", "shop.proto"], check=True, cwd=PROTO_DIR)
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    classes = {}
    for name in ("Order", "Item", "Reading", "Scalars", "Basket"):
        classes[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"shop.{name}"))
    classes["pool"] = pool
    return classes


def an_order(shop):
    o = shop["Order"]()
    o.order_id = "o-1"
    o.status = 2
    o.items.add(sku="a", quantity=2, unit_price=1.25)
    o.items.add(sku="b", quantity=1, unit_price=0.1)
    o.counts["x"] = 9007199254740993
    o.labels[7] = "seven"
    o.voucher_id = -5
    o.codes.extend([1, -2, 3])
    o.placed_at.seconds = 1700000000
    o.placed_at.nanos = 123000000
    o.ttl.seconds = 90
    o.discount.value = 12
    o.attributes.update({"color": "red", "n": 2, "nested": {"a": None}, "list": [1, "x"]})
    o.extra.string_value = "hello"
    o.mask.paths.extend(["order_id", "items.unit_price"])
    o.detail.Pack(shop["Item"](sku="z", quantity=3, unit_price=9.5))
    o.nothing.SetInParent()
    o.history.extend([1, 2])
    o.weight.value = 0.0
    return o


def message_to_dict(shop, message, **options):
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True,
                                     descriptor_pool=shop["pool"], **options)


@pytest.mark.parametrize("options", [
    {},
    {"use_integers_for_enums": True},
    {"preserving_proto_field_name": True},
])
def test_reads_as_message_to_dict_does(shop, options):
    for message in (an_order(shop), shop["Order"](), shop["Scalars"](f_int64=-3, f_float=0.1,
                                                                     f_bytes=b"\x00\xff")):
        de = ProtobufDeserializer(type(message), **options)
        assert de(message.SerializeToString()) == message_to_dict(shop, message, **options)


def test_plain_messages_read_and_write_as_the_protobuf_runtime_does(shop):
    """Basket is a plain proto3 message, read and written by the engine's direct codec: 300
    random ones, against MessageToDict and SerializeToString."""
    import random

    rnd = random.Random(7)
    Basket, Item = shop["Basket"], shop["Item"]
    de = ProtobufDeserializer(Basket)
    ser = ProtobufSerializer(Basket)

    def text():
        return "".join(rnd.choice("ab\u00e9\u2713z") for _ in range(rnd.randrange(4)))

    def number():
        return rnd.choice([0.0, -0.0, 0.1, -2.5, 1e300, 3.0, float("inf")])

    for _ in range(300):
        b = Basket()
        for _ in range(rnd.randrange(3)):
            b.items.add(sku=text(), quantity=rnd.randrange(-5, 5),
                        unit_price=number() if rnd.random() < 0.5 else 0.0)
        if rnd.random() < 0.5:
            b.best.CopyFrom(Item(sku=text(), quantity=rnd.randrange(-2**31, 2**31)))
        b.tags.extend(text() for _ in range(rnd.randrange(3)))
        b.counts.extend(rnd.randrange(-2**63, 2**63) for _ in range(rnd.randrange(3)))
        b.prices.extend(number() for _ in range(rnd.randrange(3)))
        b.status = rnd.randrange(3)
        b.statuses.extend(rnd.randrange(4) for _ in range(rnd.randrange(3)))
        b.blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(4)))
        b.deltas.extend(rnd.randrange(-2**31, 2**31) for _ in range(rnd.randrange(3)))
        b.marks.extend(rnd.randrange(2**32) for _ in range(rnd.randrange(3)))
        b.weight = number() if rnd.random() < 0.5 else 0.0
        wire = b.SerializeToString()
        read = de(wire)
        assert read == message_to_dict(shop, b), b
        assert ser(read) == wire


def test_writes_what_parse_dict_reads(shop):
    order = an_order(shop)
    ser = ProtobufSerializer(shop["Order"], deterministic=True)
    for d in (message_to_dict(shop, order),
              message_to_dict(shop, order, preserving_proto_field_name=True,
                              use_integers_for_enums=True)):
        written = shop["Order"].FromString(ser(d))
        assert written == order
    # A message object is written too, as Quix takes one.
    assert shop["Order"].FromString(ser(order)) == order


def test_errors_and_refused_options(shop):
    ser = ProtobufSerializer(shop["Order"])
    with pytest.raises(SerializationError, match="field 'items\\[0\\].quantity': \"many\" is "
                                                 "not an integer"):
        ser({"items": [{"quantity": "many"}]})
    with pytest.raises(SerializationError, match="shop.Order has no field named 'colour'"):
        ser({"colour": "red"})
    assert shop["Order"].FromString(
        ProtobufSerializer(shop["Order"], ignore_unknown_fields=True)({"colour": "red",
                                                                      "orderId": "x"})
    ).order_id == "x"
    de = ProtobufDeserializer(shop["Order"])
    with pytest.raises(SerializationError, match="are not a valid shop.Order message"):
        de(an_order(shop).SerializeToString()[:40])
    with pytest.raises(NotImplementedError, match="to_dict=False"):
        ProtobufDeserializer(shop["Order"], to_dict=False)
    with pytest.raises(TypeError, match="protobuf message class"):
        ProtobufSerializer(dict)


def test_a_pipeline_on_the_embedded_broker_reads_and_writes_protobuf(shop, embedded_app, name):
    app = embedded_app()
    source = app.topic(name("pb-in"), value_deserializer=ProtobufDeserializer(shop["Reading"]))
    sink = app.topic(name("pb-out"), value_serializer=ProtobufSerializer(shop["Reading"]))
    readings = [shop["Reading"](sensor=f"s{i}", temperature=20.0 + i, ts=i) for i in range(3)]
    with app.get_producer() as producer:
        for r in readings:
            producer.produce(source.name, key=r.sensor.encode(), value=r.SerializeToString())
    sdf = app.dataframe(source)
    sdf["temperature"] = sdf["temperature"] * 9 / 5 + 32
    sdf.to_topic(sink)
    rows = app.run(count=3, timeout=20)
    # 64-bit ints come as strings, as MessageToDict gives them.
    assert rows == [{"sensor": r.sensor, "temperature": r.temperature * 9 / 5 + 32,
                     "ts": str(r.ts)} for r in readings]
    with app.get_consumer() as consumer:
        consumer.subscribe([sink.name])
        written = []
        while len(written) < 3:
            message = consumer.poll(10)
            assert message is not None, f"only {len(written)} of 3 outputs"
            written.append(shop["Reading"].FromString(message.value()))
    assert [(w.sensor, w.temperature, w.ts) for w in written] == \
        [(r.sensor, r.temperature * 9 / 5 + 32, r.ts) for r in readings]


def test_confluent_kafka_and_streamframe_read_each_others_records(shop, brokers, schema_registry,
                                                                  name, tmp_path):
    import confluent_kafka as ck
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CKDeserializer
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CKSerializer
    from confluent_kafka.serialization import MessageField
    from confluent_kafka.serialization import SerializationContext as CKContext

    url, user_info = schema_registry
    in_topic, out_topic = name("ckpb-in"), name("ckpb-out")
    config = SchemaRegistryClientConfig(url=url, basic_auth_user_info=user_info)
    app = sf.Application(brokers, consumer_group=name("g"), auto_offset_reset="earliest",
                         state_dir=str(tmp_path / "state"), loglevel="ERROR")
    Order = shop["Order"]
    source = app.topic(in_topic, value_deserializer=ProtobufDeserializer(
        Order, schema_registry_client_config=config))
    sink = app.topic(out_topic, value_serializer=ProtobufSerializer(
        Order, schema_registry_client_config=config,
        schema_registry_serialization_config=SchemaRegistrySerializationConfig()))

    registry = SchemaRegistryClient(
        {"url": url, **({"basic.auth.user.info": user_info} if user_info else {})})
    ck_ser = CKSerializer(Order, registry, {"use.deprecated.format": False})
    orders = []
    for i in range(3):
        o = an_order(shop)
        o.order_id = f"o-{i}"
        o.items[0].quantity = i
        orders.append(o)
    producer = ck.Producer({"bootstrap.servers": brokers})
    for o in orders:
        producer.produce(in_topic, key=o.order_id,
                         value=ck_ser(o, CKContext(in_topic, MessageField.VALUE)))
    assert producer.flush(20) == 0
    sdf = app.dataframe(source)
    sdf["note"] = sdf["orderId"] + "!"
    sdf.to_topic(sink)
    rows = app.run(count=3, timeout=30)
    assert [r["orderId"] for r in rows] == ["o-0", "o-1", "o-2"]
    expected = []
    for o in orders:
        o.note = o.order_id + "!"
        expected.append(o)
    assert rows == [message_to_dict(shop, o) for o in expected]

    # confluent-kafka reads streamframe's records with the registry: it fetches the schema by
    # the id in the bytes and finds the message by the indexes after it.
    ck_de = CKDeserializer(Order, {"use.deprecated.format": False}, registry)
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
    assert read == expected
