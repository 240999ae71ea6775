"""app.run() on the embedded broker: records produced from Python, processed by the engine,
returned by run(count=...) (PY-02), errors through the processing-error path (PY-04), and no
Python object left behind per record (PY-03)."""

import gc
import json
import sys
import threading
import time
import traceback

import pytest

import streamframe as sf
from streamframe.dataframe.windows import Count, Mean, Sum


def produce(app, topic, records):
    """records: (key, value, timestamp) with value a JSON-able object."""
    with app.get_producer() as producer:
        for key, value, timestamp in records:
            producer.produce(topic.name, value=json.dumps(value), key=key, timestamp=timestamp)


def test_a_pipeline_returns_its_outputs(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic)
    sdf["double"] = sdf["i"] * 2
    sdf = sdf[sdf["i"] % 2 == 0]
    sdf = sdf.apply(lambda v: {**v, "from_python": True})
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(20)])
    out = app.run(count=10)
    assert out == [{"i": i, "double": 2 * i, "from_python": True} for i in range(0, 20, 2)]


def test_run_returns_keys_and_values_as_the_frame_they_left_has_them(embedded_app, name):
    # Quix Streams' default key deserializer is "bytes": run(metadata=True) gives `_key` as
    # bytes, and a "bytes" value as bytes under `_value`, byte for byte even when not UTF-8;
    # a frame of another topic in the same run keeps its str keys and dict values.
    app = embedded_app()
    raw = app.topic(name("raw"), value_deserializer="bytes")
    text = app.topic(name("text"), key_deserializer="str")
    app.dataframe(raw)
    app.dataframe(text).apply(lambda v: {**v, "seen": True})
    with app.get_producer() as producer:
        for i in range(3):
            producer.produce(raw.name, key=b"\xff\x00k%d" % i, value=b"\x00\xfe%d" % i)
            producer.produce(text.name, key=f"user-{i}", value=json.dumps({"i": i}))
    out = app.run(count=6, metadata=True)
    from_raw = sorted((o for o in out if o["_topic"] == raw.name), key=lambda o: o["_offset"])
    from_text = sorted((o for o in out if o["_topic"] == text.name), key=lambda o: o["_offset"])
    assert [(o["_key"], o["_value"]) for o in from_raw] == [
        (b"\xff\x00k%d" % i, b"\x00\xfe%d" % i) for i in range(3)]
    assert [(o["_key"], o["i"], o["seen"]) for o in from_text] == [
        (f"user-{i}", i, True) for i in range(3)]
    # Without metadata: the values alone, bytes still bytes.
    with app.get_producer() as producer:
        producer.produce(raw.name, key=b"k", value=b"\x80")
    assert app.run(count=1) == [{"_value": b"\x80"}]


def test_state_per_key_across_records(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))

    def count(value, state):
        n = state.get("count", 0) + 1
        state.set("count", n)
        return {"key": value["key"], "count": n}

    app.dataframe(topic).apply(count, stateful=True)
    produce(app, topic, [(f"k{i % 3}".encode(), {"key": i % 3}, 1000 + i) for i in range(9)])
    out = app.run(count=9)
    assert [o["count"] for o in out] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_tumbling_window_final(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic)
    sdf = sdf.tumbling_window(1000).agg(n=Count(), total=Sum("x"), avg=Mean("x")).final()
    # Windows [0, 1000) and [1000, 2000) close when the stream reaches 2000.
    records = [(b"s", {"x": x}, ts) for x, ts in [(1, 100), (3, 900), (10, 1000), (20, 1999), (0, 2000)]]
    produce(app, topic, records)
    out = app.run(count=2)
    assert out == [
        {"start": 0, "end": 1000, "n": 2, "total": 4, "avg": 2.0},
        {"start": 1000, "end": 2000, "n": 2, "total": 30, "avg": 15.0},
    ]


def test_app_stop_from_a_callable_ends_run(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    seen = []

    def stop_at_five(value):
        seen.append(value["i"])
        if value["i"] == 5:
            app.stop()
        return value

    app.dataframe(topic).update(stop_at_five)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(100)])
    assert app.run() == []
    assert seen[:6] == [0, 1, 2, 3, 4, 5]


def test_app_stop_from_another_thread(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).update(lambda v: None)
    timer = threading.Timer(0.5, app.stop)
    started = time.monotonic()
    timer.start()
    app.run()  # the GIL is released while it runs, or the timer could not fire
    assert time.monotonic() - started < 10


def test_a_pipeline_of_expressions_never_takes_the_gil_per_record(embedded_app, name):
    """PY-03: expressions, filters, windows and built-in aggregations run without Python; a
    callable takes the GIL once per call."""
    from streamframe import _core

    app = embedded_app()
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic)
    sdf["f"] = sdf["c"] * 9 / 5 + 32
    sdf = sdf[(sdf["f"] > 50) & sdf["sensor"].isin(["s1", "s2"])]
    sdf = sdf.tumbling_window(1000).agg(n=Count(), total=Sum("f"), avg=Mean("c")).current()
    records = [(b"k", {"c": i % 40, "sensor": f"s{i % 3}"}, 1000 + i) for i in range(5000)]
    produce(app, topic, records)
    before = _core._callback_gil_count()
    out = app.run(count=1000)
    assert len(out) == 1000
    assert _core._callback_gil_count() == before

    app2 = embedded_app()
    topic2 = app2.topic(name("in"))
    app2.dataframe(topic2).apply(lambda v: v)
    produce(app2, topic2, records[:1000])
    before = _core._callback_gil_count()
    assert len(app2.run(count=1000)) == 1000
    assert _core._callback_gil_count() - before == 1000


def explode(value):
    if value["i"] == 3:
        raise ValueError(f"bad record {value['i']}")
    return value


def test_an_exception_in_a_callable_stops_run_with_that_exception_and_its_traceback(
    embedded_app, name
):
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).apply(explode)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(10)])
    with pytest.raises(ValueError, match="bad record 3") as raised:
        app.run(count=10)
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "explode" in frames


def test_on_processing_error_can_skip_records(embedded_app, name):
    calls = []

    def on_error(exc, row, logger):
        calls.append((type(exc), str(exc), row.value, row.key, row.topic, row.offset))
        return True  # skip

    app = embedded_app(on_processing_error=on_error)
    topic = app.topic(name("in"))
    app.dataframe(topic).apply(explode)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(10)])
    out = app.run(count=9)
    assert [o["i"] for o in out] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert calls == [(ValueError, "bad record 3", {"i": 3}, b"k", topic.name, 3)]


def test_on_processing_error_returning_false_stops(embedded_app, name):
    app = embedded_app(on_processing_error=lambda exc, row, logger: False)
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic)
    sdf["y"] = sdf["nope"] + 1
    produce(app, topic, [(b"k", {"i": 1}, 1000)])
    with pytest.raises(sf.ColumnDoesNotExist) as raised:
        app.run(count=1)
    assert raised.value.topic == topic.name
    assert raised.value.offset == 0
    assert isinstance(raised.value, sf.StreamframeError)


def test_a_value_a_callable_cannot_return_is_a_processing_error(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).apply(lambda v: {"when": object()})
    produce(app, topic, [(b"k", {"i": 1}, 1000)])
    with pytest.raises(sf.ValueTypeError, match="apply: a 'object' is not JSON-representable"):
        app.run(count=1)


def test_extra_librdkafka_settings_take_python_values(embedded_app, name):
    app = embedded_app(consumer_extra_config={"enable.partition.eof": False, "fetch.wait.max.ms": 10},
                       producer_extra_config={"linger.ms": 1.5})
    topic = app.topic(name("in"))
    app.dataframe(topic)
    produce(app, topic, [(b"k", {"i": 1}, 1000)])
    assert app.run(count=1) == [{"i": 1}]
    with pytest.raises(sf.ConfigError, match="no.such.setting"):
        bad = embedded_app(consumer_extra_config={"no.such.setting": 1})
        bad.dataframe(bad.topic(name("in")))
        bad.run(count=1)


def test_json_log_lines_name_the_record_being_processed(embedded_app, name, capfd):
    # LOG-02: log_format="json" gives one JSON object per stderr line; a line logged while a
    # record is processed carries its topic, partition and offset.
    app = embedded_app(loglevel="DEBUG", log_format="json",
                       on_processing_error=lambda exc, row, logger: True)
    topic = app.topic(name("in"))

    def fail_on_two(value):
        if value["i"] == 2:
            raise ValueError("two is refused")
        return value

    app.dataframe(topic).apply(fail_on_two)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(4)])
    capfd.readouterr()
    assert [o["i"] for o in app.run(count=3)] == [0, 1, 3]
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert records and all(r["logger"] == "streamframe" for r in records)
    skipped = [r for r in records if "error skipped" in r["message"]]
    assert len(skipped) == 1, lines
    assert skipped[0]["level"] == "DEBUG"
    assert "two is refused" in skipped[0]["message"]
    assert (skipped[0]["topic"], skipped[0]["partition"], skipped[0]["offset"]) == (
        topic.name, 0, 2)
    with pytest.raises(sf.ConfigError, match="log_format is 'text' or 'json'"):
        embedded_app(log_format="yaml")


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_port_serves_prometheus_metrics_and_health(embedded_app, name):
    # EXT-08 from Python: the same endpoints as in C++, the counters as the run left them.
    import urllib.error
    import urllib.request
    port = _free_port()
    app = embedded_app(metrics_port=port, metrics_bind_address="127.0.0.1")
    topic = app.topic(name("in"))
    seen = {}

    def probe(value):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready") as r:
            seen["ready"] = r.status
        return value

    app.dataframe(topic).apply(probe)
    produce(app, topic, [(b"k", {"i": i}, 1000 + i) for i in range(3)])
    assert len(app.run(count=3)) == 3
    assert seen["ready"] == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
        text = r.read().decode()
    consumed = [line for line in text.splitlines()
                if line.startswith("streamframe_records_consumed_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in consumed) == 3, text
    with pytest.raises(urllib.error.HTTPError) as not_ready:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready")
    assert not_ready.value.code == 503
    assert json.loads(not_ready.value.read())["reason"] == "not running"


def test_error_classes():
    for cls in (sf.KafkaError, sf.ConfigError, sf.SerializationError, sf.ValueTypeError,
                sf.ColumnDoesNotExist, sf.TopicNotFound, sf.InvalidOperation):
        assert issubclass(cls, sf.StreamframeError)
    assert issubclass(sf.KafkaBrokerUnavailableError, sf.KafkaError)
    with pytest.raises(sf.ConfigError, match="broker_address is required"):
        sf.Application(None, consumer_group="g")
    with pytest.raises(sf.ConfigError, match="exactly-once"):
        sf.Application("embedded", processing_guarantee="exactly-twice")


def test_python_objects_do_not_pile_up_over_a_million_records(embedded_app, name):
    """Reference counting under load (PY-03): every value, key, state handle and result built
    for a callable is released, and the callables' own references stay where they were.

    In ten rounds of 100,000 records (the embedded broker keeps about 5 MiB per partition, so
    a million records cannot wait in it at once), run() each time until the round's two
    outputs: the number of live Python objects after every round equals the second round's
    (the first warms up caches of Python and the test)."""
    app = embedded_app(commit_interval=1.0)
    topic = app.topic(name("in"))
    shared = ["returned by every call"]

    def enrich(value, key, timestamp, headers):
        return {"i": value["i"], "k": key, "shared": shared}

    def count(value, state):
        state.set("n", state.get("n", 0) + 1)
        return value["i"] % 50_000 == 0

    app.dataframe(topic).apply(enrich, metadata=True).filter(count, stateful=True)
    producer = app.get_producer()
    objects = []
    refs = []
    for round_ in range(10):
        for i in range(round_ * 100_000, (round_ + 1) * 100_000):
            producer.produce(topic.name, value=b'{"i": %d}' % i, key=b"k%d" % (i % 10))
        assert producer.flush(30)
        out = app.run(count=2)
        assert [o["i"] for o in out] == [round_ * 100_000, round_ * 100_000 + 50_000]
        assert out[0]["k"] == "k0"
        del out
        gc.collect()
        objects.append(len(gc.get_objects()))
        refs.append((sys.getrefcount(shared), sys.getrefcount(enrich), sys.getrefcount(count)))
    assert objects[1:] == [objects[1]] * 9
    assert refs == [refs[0]] * 10


def test_session_window_and_on_late(embedded_app, name):
    late = []

    def on_late(value, key, timestamp_ms, late_by_ms, start, end, store_name, topic, partition,
                offset):
        late.append((value, key, timestamp_ms, late_by_ms, topic, offset))
        return False  # do not log it

    app = embedded_app()
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic).apply(lambda v: v["x"])
    sdf = sdf.session_window(inactivity_gap_ms=1000, on_late=on_late).sum().final()
    # A session ends 1 ms after its last record (Quix Streams 3.27+, checked against 3.28.1 with
    # the same records): [100, 601) closes at 3000; the record at 200 comes 3800 ms late.
    records = [(b"s", {"x": x}, ts) for x, ts in [(1, 100), (2, 600), (4, 3000), (8, 5000), (16, 200)]]
    produce(app, topic, records)
    out = app.run(timeout=2)
    assert out == [{"start": 100, "end": 601, "value": 3}]
    assert late == [(16, b"s", 200, 3800, topic.name, 4)]


def test_join_asof_and_join_interval(embedded_app, name):
    app = embedded_app()
    orders = app.topic(name("orders"))
    rates = app.topic(name("rates"))
    left = app.dataframe(orders)
    right = app.dataframe(rates)
    asof = left.join_asof(right, how="left", on_merge=lambda l, r: {**l, "rate": r["rate"] if r else None})
    asof["usd"] = asof.apply(lambda v: v["amount"] * v["rate"] if v["rate"] else None)
    produce(app, rates, [(b"eur", {"rate": 1.0}, 1000), (b"eur", {"rate": 2.0}, 2000)])
    produce(app, orders, [(b"eur", {"amount": 10}, 1500), (b"eur", {"amount": 10}, 2500),
                          (b"gbp", {"amount": 5}, 2600)])
    out = app.run(count=3, timeout=10)
    # Quix Streams calls on_merge(left, None) for a left record without a match.
    assert out == [
        {"amount": 10, "rate": 1.0, "usd": 10.0},
        {"amount": 10, "rate": 2.0, "usd": 20.0},
        {"amount": 5, "rate": None, "usd": None},
    ]

    app = embedded_app()
    clicks = app.topic(name("clicks"))
    views = app.topic(name("views"))
    joined = app.dataframe(clicks).join_interval(
        app.dataframe(views), how="inner", on_merge="keep-left", backward_ms=1000, forward_ms=0
    )
    produce(app, views, [(b"u", {"page": "a"}, 1000), (b"u", {"page": "b"}, 5000)])
    produce(app, clicks, [(b"u", {"click": 1}, 1500), (b"u", {"click": 2}, 3000)])
    out = app.run(count=1, timeout=10)
    assert out == [{"click": 1, "page": "a"}]


def test_num_workers_run_callables_on_their_own_threads(embedded_app, name):
    """EXT-06: two workers, each with its partitions' state; callables take turns on the GIL."""
    import threading

    from streamframe.sinks.core.list import ListSink

    app = embedded_app(num_workers=2)
    topic = app.topic(name("in"), config=sf.TopicConfig(num_partitions=2, replication_factor=1))
    threads = set()

    def count(value, state):
        threads.add(threading.get_ident())
        n = state.get("n", 0) + 1
        state.set("n", n)
        return {"i": value["i"], "n": n}

    sdf = app.dataframe(topic).apply(count, stateful=True)
    listed = ListSink(metadata=True)
    sdf.sink(listed)  # one Python sink for both workers: its calls are serialized by the GIL
    produce(app, topic, [(b"k%d" % (i % 10), {"i": i}, 1000 + i) for i in range(1000)])
    out = app.run(count=1000, timeout=10)
    assert out == [{"_value": None}] * 1000  # the sink is the only leaf
    assert len(threads) == 2
    assert sorted(r["i"] for r in listed) == list(range(1000))
    assert {r["_partition"] for r in listed} == {0, 1}
    per_key = {}
    for r in listed:
        per_key.setdefault(r["_key"], []).append(r["n"])
    assert sorted(per_key) == [b"k%d" % k for k in range(10)]
    assert all(sorted(ns) == list(range(1, 101)) for ns in per_key.values())
