"""sdf.fill() and sdf.sink() with Quix Streams' sink classes (streamframe.sinks): add() per
record, flush() at each checkpoint before the offsets commit, start()/setup() before the first
record, a failing flush commits nothing, and SinkBackpressureError pauses, rewinds and replays
(SNK-03)."""

import json
import time

import pytest

import streamframe as sf
from streamframe.sinks import BatchingSink, SinkBackpressureError, SinkBatch
from streamframe.sinks.core.list import ListSink


def produce(app, topic, records):
    with app.get_producer() as producer:
        for key, value, timestamp in records:
            producer.produce(topic.name, value=json.dumps(value), key=key, timestamp=timestamp)


def new_sdf():
    app = sf.Application("embedded", consumer_group="g")
    return app.dataframe(app.topic("fill-input"))


def test_fill_sets_missing_and_null_columns_only():
    sdf = new_sdf()
    sdf.fill("y", z=0, w=[1])  # in place, as in Quix Streams
    assert sdf.test({"x": 1}) == [{"x": 1, "y": None, "z": 0, "w": [1]}]
    assert sdf.test({"x": 1, "y": 2, "z": None, "w": "kept"}) == [
        {"x": 1, "y": 2, "z": 0, "w": "kept"}]
    assert sdf.test(5) == [5]  # not a dict: unchanged
    # A column named both ways takes the mapping's value.
    assert new_sdf().fill("a", a=7).test({}) == [{"a": 7}]


def test_fill_bad_arguments_fail_at_definition():
    with pytest.raises(sf.ConfigError, match="at least one column"):
        new_sdf().fill()
    with pytest.raises(sf.ConfigError, match="column names as str"):
        new_sdf().fill(3)
    with pytest.raises(sf.ValueTypeError, match="fill"):
        new_sdf().fill(a={1, 2})


class Recording(BatchingSink):
    """Keeps what write() received, and how often setup() ran."""

    def __init__(self, fail_writes=0, fail_with=lambda: ConnectionError("destination down"),
                 **kwargs):
        super().__init__(**kwargs)
        self.batches = []
        self.setups = 0
        self.fail_writes = fail_writes
        self.fail_with = fail_with

    def setup(self):
        self.setups += 1

    def write(self, batch: SinkBatch):
        if self.fail_writes:
            self.fail_writes -= 1
            raise self.fail_with()
        self.batches.append((batch.topic, batch.partition, batch.start_offset,
                             [(item.key, item.value, item.timestamp, item.offset)
                              for item in batch]))


def test_list_sink_with_metadata_and_non_dict_values(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    sink = ListSink(metadata=True)
    sdf = app.dataframe(topic)
    sdf = sdf.apply(lambda v: v["x"] if v["x"] % 2 else v)
    sdf.sink(sink)
    produce(app, topic, [(b"k", {"x": x}, 1000 + x) for x in range(4)])
    # As in Quix Streams, a record leaves a sink with the value None.
    assert app.run(timeout=2) == [{"_value": None}] * 4
    assert [(r["_key"], r["_timestamp"], r["_offset"]) for r in sink] == [
        (b"k", 1000 + x, x) for x in range(4)]
    assert [{k: v for k, v in r.items() if not k.startswith("_")} for r in sink] == [
        {"x": 0}, {"value": 1}, {"x": 2}, {"value": 3}]
    assert all(r["_topic"] == topic.name for r in sink)


def test_batching_sink_writes_one_batch_per_partition_at_checkpoints(embedded_app, name):
    app = embedded_app(commit_interval=0.2)
    topic = app.topic(name("in"), config=sf.TopicConfig(num_partitions=2, replication_factor=1))
    sink = Recording()
    app.dataframe(topic).sink(sink)
    keys = [b"a", b"b", b"c", b"d"]
    produce(app, topic, [(keys[i % 4], {"i": i}, 5000 + i) for i in range(40)])
    app.run(timeout=2)
    assert sink.setups == 1
    written = [item for _, _, _, items in sink.batches for item in items]
    assert sorted(v["i"] for _, v, _, _ in written) == list(range(40))
    for topic_name, partition, start, items in sink.batches:
        assert topic_name == topic.name and partition in (0, 1)
        offsets = [offset for _, _, _, offset in items]
        assert offsets[0] == start and offsets == sorted(offsets)
    # Per partition, the batches follow each other without a gap or a repeat.
    for partition in (0, 1):
        offsets = [o for _, p, _, items in sink.batches if p == partition
                   for _, _, _, o in items]
        assert offsets == list(range(len(offsets)))


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_failing_write_commits_nothing_and_the_records_come_again(brokers, tmp_path, name,
                                                                    guarantee):
    """A real broker: the second application must find the first one's offsets uncommitted."""
    group = name("g")

    def make_app():
        return sf.Application(brokers, consumer_group=group, auto_offset_reset="earliest",
                              state_dir=str(tmp_path / "state"), loglevel="ERROR",
                              processing_guarantee=guarantee)

    app = make_app()
    topic = app.topic(name("in"))
    failing = Recording(fail_writes=1)
    app.dataframe(topic).sink(failing)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(5)])
    with pytest.raises(ConnectionError, match="destination down"):
        app.run(timeout=3)
    assert failing.batches == []

    again = make_app()
    sink = Recording()
    again.dataframe(again.topic(topic.name)).sink(sink)
    again.run(timeout=3)
    assert [v["i"] for _, _, _, items in sink.batches for _, v, _, _ in items] == list(range(5))

    # And once written, committed: a third run finds nothing new.
    third = make_app()
    nothing = Recording()
    third.dataframe(third.topic(topic.name)).sink(nothing)
    third.run(timeout=3)
    assert nothing.batches == []


def test_setup_failure_goes_to_on_client_connect_failure(embedded_app, name):
    seen = []

    class Unreachable(Recording):
        def setup(self):
            raise ConnectionError("destination down")

    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(Unreachable(on_client_connect_failure=seen.append))
    produce(app, topic, [(b"k", {"i": 1}, 1000)])
    app.run(timeout=1)  # the callback swallowed it: the app runs
    assert [str(e) for e in seen] == ["destination down"]

    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(Unreachable())  # default: re-raise, the app stops with it
    with pytest.raises(ConnectionError, match="destination down"):
        app.run(timeout=1)


def test_sink_takes_only_objects_with_add_and_flush():
    with pytest.raises(sf.ConfigError, match="add\\(\\) and flush\\(\\)"):
        new_sdf().sink([])


class Backpressured(Recording):
    """Raises SinkBackpressureError(retry_after) from its first `fail_writes` writes; keeps when
    each write and each on_paused() happened."""

    def __init__(self, fail_writes, retry_after):
        super().__init__(fail_writes=fail_writes,
                         fail_with=lambda: SinkBackpressureError(retry_after=retry_after))
        self.events = []  # ("fail" | "write" | "paused", time.monotonic())

    def write(self, batch: SinkBatch):
        self.events.append(("fail" if self.fail_writes else "write", time.monotonic()))
        super().write(batch)

    def on_paused(self):
        self.events.append(("paused", time.monotonic()))
        super().on_paused()


def committed_offset(brokers, group, topic):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group})
    try:
        [tp] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return tp.offset
    finally:
        consumer.close()


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_backpressure_pauses_rewinds_and_replays(brokers, tmp_path, name, guarantee):
    """SNK-03 on a real broker: the first two writes raise SinkBackpressureError(0.3); every
    record is then written once, in offset order, and committed; to_topic's outputs of the
    replayed records are in the output topic once each for a read_committed reader."""
    group = name("g")
    records = 30

    def make_app(**kwargs):
        return sf.Application(brokers, consumer_group=kwargs.pop("group", group),
                              auto_offset_reset="earliest", state_dir=str(tmp_path / "state"),
                              loglevel="ERROR", **kwargs)

    app = make_app(processing_guarantee=guarantee, commit_interval=0.2)
    topic = app.topic(name("in"))
    out = app.topic(name("out"))
    sink = Backpressured(fail_writes=2, retry_after=0.3)
    sdf = app.dataframe(topic)
    sdf["double"] = sdf["i"] * 2
    sdf.to_topic(out)
    sdf.sink(sink)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(records)])
    app.run(timeout=3)

    written = [(v["i"], offset) for _, _, _, items in sink.batches for _, v, _, offset in items]
    assert written == [(i, i) for i in range(records)]
    kinds = [kind for kind, _ in sink.events]
    assert kinds[:4] == ["fail", "paused", "fail", "paused"] and set(kinds[4:]) == {"write"}
    # Each pause lasts retry_after: nothing is written (or fails) before it is over.
    times = [t for _, t in sink.events]
    assert times[2] - times[1] >= 0.3 and times[4] - times[3] >= 0.3
    assert committed_offset(brokers, group, topic.name) == records

    reader = make_app(group=name("reader"),
                      consumer_extra_config={"isolation.level": "read_committed"})
    reader.dataframe(reader.topic(out.name))
    outputs = reader.run(count=records + 1, timeout=3)
    if guarantee == "exactly-once":
        assert [o["i"] for o in outputs] == list(range(records))
    else:  # at-least-once: the replayed records' outputs may be there twice
        assert sorted(set(o["i"] for o in outputs)) == list(range(records))
    assert all(o["double"] == 2 * o["i"] for o in outputs)


def test_backpressure_from_a_base_sink_flush(embedded_app, name):
    """A BaseSink subclass (add/flush, no write): the flush raising SinkBackpressureError has its
    batch dropped by on_paused() and gets every record again."""

    class Buffered(sf.sinks.BaseSink):
        def __init__(self):
            super().__init__()
            self.pending, self.flushed, self.paused, self.fails = [], [], 0, 1

        def add(self, value, key, timestamp, headers, topic, partition, offset):
            self.pending.append(offset)

        def flush(self):
            if self.fails and self.pending:
                self.fails -= 1
                raise SinkBackpressureError(0.05)
            self.flushed += self.pending
            self.pending = []

        def on_paused(self):
            self.paused += 1
            self.pending = []

    app = embedded_app(commit_interval=0.2)
    topic = app.topic(name("in"))
    sink = Buffered()
    app.dataframe(topic).sink(sink)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(10)])
    app.run(timeout=2)
    assert sink.paused == 1 and sink.flushed == list(range(10))


def test_sink_backpressure_error_keeps_retry_after():
    error = SinkBackpressureError(retry_after=1.5)
    assert error.retry_after == 1.5 and isinstance(error, sf.StreamframeError)


def test_connect_callbacks_run_once(embedded_app, name):
    """BaseSink.start() calls setup() and the callback itself: the engine does not call it
    again. An object without start() gets its callbacks from the engine."""
    seen = []
    app = embedded_app()
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic)
    sdf.sink(Recording(on_client_connect_success=lambda: seen.append("ok")))

    class Plain:  # Quix's sink methods without BaseSink
        def setup(self):
            raise ConnectionError("down")

        def _on_client_connect_failure(self, exception):
            seen.append(("failed", str(exception)))

        def add(self, *args):
            seen.append("add")

        def flush(self):
            pass

    sdf.sink(Plain())
    produce(app, topic, [(b"k", {"i": 1}, 1000)])
    app.run(timeout=1)
    assert sorted(map(str, seen)) == sorted(map(str, ["ok", ("failed", "down"), "add"]))


def test_backpressure_with_two_workers_drops_and_replays_only_its_own_partitions(
        embedded_app, name):
    """num_workers=2, one partition each: the worker whose write raises goes back to its last
    checkpoint; the other's records are written once, none dropped."""
    app = embedded_app(commit_interval=0.1, num_workers=2)
    topic = app.topic(name("in"), config=sf.TopicConfig(num_partitions=2, replication_factor=1))
    sink = Backpressured(fail_writes=1, retry_after=0.2)
    app.dataframe(topic).sink(sink)
    with app.get_producer() as producer:
        for i in range(200):
            for partition in (0, 1):
                producer.produce(topic.name, value=json.dumps({"i": i}), key=b"k",
                                 timestamp=1000 + i, partition=partition)
    app.run(timeout=2)
    assert [kind for kind, _ in sink.events].count("paused") == 1
    for partition in (0, 1):
        offsets = [o for _, p, _, items in sink.batches if p == partition for _, _, _, o in items]
        assert offsets == list(range(200)), partition
