"""The Python API against a real Kafka broker (scripts/kafka): outputs written by to_topic()
under both guarantees, a group_by hop through a repartition topic, read back by a second
application."""

import json

import pytest

import streamframe as sf
from streamframe.models import TopicConfig


def make_app(brokers, tmp_path, group, **kwargs):
    kwargs.setdefault("auto_offset_reset", "earliest")
    kwargs.setdefault("loglevel", "ERROR")
    return sf.Application(
        brokers, consumer_group=group, state_dir=str(tmp_path / group), **kwargs
    )


def read_back(brokers, tmp_path, name, topic_name, count, key_deserializer="bytes"):
    reader = make_app(brokers, tmp_path, name("reader"), commit_interval=0.5)
    topic = reader.topic(topic_name, key_deserializer=key_deserializer)
    reader.dataframe(topic)
    return reader.run(count=count, metadata=True)


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_outputs_reach_the_output_topic_once(brokers, tmp_path, name, guarantee):
    app = make_app(brokers, tmp_path, name("g"), processing_guarantee=guarantee,
                   commit_interval=0.2)
    source = app.topic(name("in"), config=TopicConfig(num_partitions=2, replication_factor=1))
    sink = app.topic(name("out"), config=TopicConfig(num_partitions=2, replication_factor=1))
    sdf = app.dataframe(source)
    sdf["doubled"] = sdf["i"] * 2
    sdf = sdf.apply(lambda v: {**v, "tag": f"n{v['i']}"})
    sdf = sdf[sdf["i"] % 3 != 0]
    sdf.to_topic(sink)
    total = 3000
    with app.get_producer() as producer:
        for i in range(total):
            producer.produce(source.name, value=json.dumps({"i": i}), key=b"k%d" % (i % 7))
    expected = [i for i in range(total) if i % 3 != 0]
    assert len(app.run(count=len(expected))) == len(expected)
    out = read_back(brokers, tmp_path, name, sink.name, len(expected))
    assert sorted(o["i"] for o in out) == expected  # each once: no loss, no duplicate
    for o in out:
        assert o["doubled"] == 2 * o["i"] and o["tag"] == f"n{o['i']}"
        assert o["_key"] == b"k%d" % (o["i"] % 7)


def test_group_by_through_a_repartition_topic(brokers, tmp_path, name):
    app = make_app(brokers, tmp_path, name("g"), commit_interval=0.2)
    source = app.topic(name("in"), config=TopicConfig(num_partitions=2, replication_factor=1))
    sink = app.topic(name("out"), key_serializer="json",
                     config=TopicConfig(num_partitions=2, replication_factor=1))

    def count(value, state):
        n = state.get("n", 0) + 1
        state.set("n", n)
        return {"user": value["user"], "n": n}

    sdf = app.dataframe(source).group_by("user").apply(count, stateful=True)
    sdf.to_topic(sink)
    users = ["ann", "bob", "cyd"]
    total = 300
    with app.get_producer() as producer:
        # keyed by device: records of one user are spread over both partitions
        for i in range(total):
            producer.produce(source.name, value=json.dumps({"user": users[i % 3]}),
                             key=b"device-%d" % i)
    assert len(app.run(count=total)) == total
    out = read_back(brokers, tmp_path, name, sink.name, total, key_deserializer="json")
    for user in users:
        counts = sorted(o["n"] for o in out if o["user"] == user)
        assert counts == list(range(1, total // 3 + 1))
        assert {o["_key"] for o in out if o["user"] == user} == {user}
    assert app.delete_internal_topics()


def poll_n(consumer, n, timeout=30.0):
    import time

    out, deadline = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            out.append(message)
    extra = consumer.poll(1.0)  # nothing beyond n
    return out + ([extra] if extra is not None else [])


def test_get_consumer_commits_what_it_stored(brokers, tmp_path, name):
    # Quix Streams' app.get_consumer(): confluent_kafka's Message accessors, offsets committed
    # only once stored, so the group's next member reads what was not.
    app = make_app(brokers, tmp_path, name("g"))
    topic = app.topic(name("gc"), config=TopicConfig(num_partitions=1, replication_factor=1))
    with app.get_producer() as producer:
        for i in range(5):
            producer.produce(topic.name, key=f"k{i}".encode(), value=json.dumps({"i": i}),
                             headers=[("h", b"v")], timestamp=1000 + i)
    with app.get_consumer(auto_commit_enable=False) as consumer:
        consumer.subscribe([topic.name])
        messages = poll_n(consumer, 5)
        assert [m.key() for m in messages] == [b"k0", b"k1", b"k2", b"k3", b"k4"]
        m = messages[2]
        assert json.loads(m.value()) == {"i": 2}
        assert (m.topic(), m.partition(), m.offset()) == (topic.name, 0, 2)
        assert m.timestamp() == (1, 1002)
        assert m.headers() == [("h", b"v")]
        assert m.error() is None
        consumer.store_offsets(m)  # k0..k2 processed
        consumer.commit()
        with pytest.raises(NotImplementedError, match="offsets="):
            consumer.commit(offsets=[])
    with app.get_consumer() as consumer:
        with pytest.raises(NotImplementedError, match="on_assign"):
            consumer.subscribe([topic.name], on_assign=lambda *args: None)
        consumer.subscribe([topic.name])
        rest = poll_n(consumer, 2)
        assert [m.key() for m in rest] == [b"k3", b"k4"]
        for m in rest:
            consumer.store_offsets(m)
    with app.get_consumer() as consumer:  # the auto-commit committed them on close
        consumer.subscribe([topic.name])
        assert consumer.poll(3.0) is None
    with pytest.raises(sf.InvalidOperation, match="closed"):
        consumer.poll(0.1)


def test_register_store_creates_the_changelog_of_the_default_store(brokers, tmp_path, name):
    group = name("g")
    app = make_app(brokers, tmp_path, group, commit_interval=0.2)
    source = app.topic(name("in"), config=TopicConfig(num_partitions=3, replication_factor=1))
    sdf = app.dataframe(source)

    class RocksDBStore:  # the name of Quix Streams' default store class
        pass
    assert sdf.register_store(store_type=RocksDBStore) is None
    sdf.register_store()  # twice: the same store
    with app.get_producer() as producer:
        for i in range(6):
            producer.produce(source.name, value=json.dumps({"i": i}), key=b"k%d" % i)
    assert len(app.run(count=6)) == 6
    changelog = f"changelog__{group}--{source.name}--default"
    assert app.delete_internal_topics() == [changelog]
