"""Sources written in Python (streamframe.sources, SRC-01..04) with Quix Streams' API: a source
feeding a dataframe, sources alone, run(timeout) stopping a looping source, a failing source
raising SourceException from its own exception, the connect callbacks, a source that ignores
stop(), and an exactly-once application reading a source. Tests taking `brokers` need a real
Kafka; the others run on the embedded broker."""

import gc
import json
import subprocess
import sys
import threading
import time

import pytest

import streamframe as sf
import streamframe.sources as sources
from streamframe.models.messages import KafkaMessage
from streamframe.sources import Source, SourceException


class Counting(Source):
    """Produces `count` records {"i": n} keyed "k<n>" at timestamp 1000 + n with a header, then
    raises `fail_with` if given."""

    def __init__(self, name, count, fail_with=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = count
        self.fail_with = fail_with
        self.cleanups = []
        self.thread = None

    def run(self):
        self.thread = threading.current_thread()
        for i in range(self.count):
            if not self.running:
                break
            msg = self.serialize(key=f"k{i}", value={"i": i}, headers=[("origin", b"counter")],
                                 timestamp_ms=1000 + i)
            self.produce(value=msg.value, key=msg.key, headers=msg.headers,
                         timestamp=msg.timestamp)
        if self.fail_with is not None:
            self.flush()
            raise self.fail_with

    def cleanup(self, failed):
        self.cleanups.append(failed)
        super().cleanup(failed)


class Looping(Source):
    """Produces {"n": n} every 5 ms until stopped."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.produced = 0

    def run(self):
        while self.running:
            self.produce(value=json.dumps({"n": self.produced}))
            self.produced += 1
            time.sleep(0.005)


def make_app(brokers, tmp_path, name, **kwargs):
    kwargs.setdefault("consumer_group", name("g"))
    kwargs.setdefault("auto_offset_reset", "earliest")
    kwargs.setdefault("loglevel", "ERROR")
    kwargs.setdefault("state_dir", str(tmp_path / "state"))
    return sf.Application(brokers, **kwargs)


def read_topic(app_factory, topic_name, count, **topic_kwargs):
    reader = app_factory()
    reader.dataframe(reader.topic(topic_name, **topic_kwargs))
    return reader.run(count=count, timeout=10, metadata=True)


# -- the API without a broker -----------------------------------------------------------------


def test_quix_names_are_there_and_unsupported_ones_fail_when_made():
    from streamframe.sources.core.csv import CSVSource as CoreCSVSource
    assert CoreCSVSource is sources.CSVSource
    for exported in ("BaseSource", "Source", "SourceException", "StatefulSource", "CSVSource",
                     "KafkaReplicatorSource", "QuixEnvironmentSource", "SourceManager",
                     "ClientConnectSuccessCallback", "ClientConnectFailureCallback"):
        assert hasattr(sources, exported), exported
    assert sources.SourceException is sf.SourceException
    assert issubclass(SourceException, sf.StreamframeError)
    from streamframe.sources.base import Source as BaseModuleSource
    assert BaseModuleSource is Source

    class Basic(sources.BaseSource):
        pass

    for make, named in [(lambda: Basic(), "BaseSource"),
                        (lambda: sources.QuixEnvironmentSource(name="q"),
                         "QuixEnvironmentSource")]:
        with pytest.raises(NotImplementedError, match=named):
            make()


def test_a_source_outside_an_application(embedded_app):
    source = Counting("loose", 1)
    assert not source.running
    assert source.name == "loose" and source.shutdown_timeout == 10 and repr(source) == "loose"
    with pytest.raises(sf.InvalidOperation, match="loose"):
        source.produce(value=b"x")
    with pytest.raises(sf.InvalidOperation, match="loose"):
        source.serialize(value=1)
    with pytest.raises(RuntimeError, match="not configured"):
        source.producer_topic
    assert source.default_topic().name == "loose"
    assert source.default_topic().value_serializer == "json"


def test_declaration_errors(embedded_app):
    app = embedded_app()
    with pytest.raises(ValueError, match="one of `source` or `topic` is required"):
        app.dataframe()
    with pytest.raises(TypeError, match="add_source"):
        app.add_source(object())

    class NoSuper(Source):
        def __init__(self):
            pass

    with pytest.raises(TypeError, match="super"):
        app.add_source(NoSuper())
    source = Counting("dup", 1)
    topic = app.add_source(source)
    assert topic.name == "source__dup"
    assert source.producer_topic.name == "source__dup"
    with pytest.raises(sf.ConfigError, match="already added"):
        app.add_source(source)
    with pytest.raises(sf.ConfigError, match="already added"):
        app.add_source(Counting("dup", 1))
    with pytest.raises(ValueError, match="plain Source"):
        app.run(count=1)


class Serializing(Source):
    """Serializes `calls` (kwargs of serialize()) in run(), as a source does, keeping the
    messages or the exception."""

    def __init__(self, name, calls):
        super().__init__(name=name)
        self.calls = calls
        self.results = []

    def run(self):
        for kwargs in self.calls:
            try:
                self.results.append(self.serialize(**kwargs))
            except Exception as e:  # noqa: BLE001 (the test looks at it)
                self.results.append(e)


def test_serialize_uses_the_topics_serializers(embedded_app):
    app = embedded_app()
    source = Serializing("ser", [
        dict(key="k", value={"a": [1, 2]}, headers=[("h", b"1")], timestamp_ms=7),
        dict(value=3),
        dict(value={1, 2}),
    ])
    app.add_source(source)
    # A topic given to add_source: its own serializers.
    other = Serializing("ser2", [dict(key={"id": 1}, value="plain")])
    app.add_source(other, app.topic("ser-out", key_serializer="json", value_serializer="str"))
    app.run()
    msg = source.results[0]
    assert isinstance(msg, KafkaMessage)
    assert (msg.key, json.loads(msg.value), msg.headers, msg.timestamp) == (
        b"k", {"a": [1, 2]}, [("h", b"1")], 7)
    msg = source.results[1]
    assert (msg.key, msg.value, msg.headers, msg.timestamp) == (None, b"3", None, None)
    assert isinstance(source.results[2], sf.ValueTypeError)
    msg = other.results[0]
    assert (json.loads(msg.key), msg.value) == ({"id": 1}, b"plain")


# -- on the embedded broker -------------------------------------------------------------------


def test_source_feeds_a_dataframe_embedded(embedded_app):
    app = embedded_app()
    source = Counting("emb", 20)
    sdf = app.dataframe(source=source)
    sdf["double"] = sdf["i"] * 2
    out = app.run(count=20, metadata=True)
    assert [o["i"] for o in out] == list(range(20))
    assert [o["double"] for o in out] == [2 * i for i in range(20)]
    assert [o["_key"] for o in out] == [b"k%d" % i for i in range(20)]
    assert [o["_timestamp"] for o in out] == [1000 + i for i in range(20)]
    assert all(o["_headers"] == [("origin", b"counter")] for o in out)
    assert all(o["_topic"] == "source__emb" for o in out)
    # The source ran in a thread of its own, and ended with a flushing cleanup.
    assert source.thread is not None and source.thread is not threading.main_thread()
    assert source.cleanups == [False]
    assert not source.running


def test_dataframe_with_source_and_topic_reads_that_topic(embedded_app):
    app = embedded_app()
    topic = app.topic("given-topic")
    sdf = app.dataframe(topic=topic, source=Counting("given", 3))
    assert sdf is not None
    out = app.run(count=3, metadata=True)
    assert [(o["_topic"], o["i"]) for o in out] == [("given-topic", i) for i in range(3)]


def test_failing_source_raises_source_exception_from_its_error_embedded(embedded_app):
    app = embedded_app()
    source = Counting("failing", 5, fail_with=KeyError("sensor unplugged"))
    seen = []
    app.dataframe(source=source).update(lambda v: seen.append(v["i"]))
    with pytest.raises(SourceException) as info:
        app.run()
    cause = info.value.__cause__
    assert type(cause) is KeyError and cause.args == ("sensor unplugged",)
    assert info.value.source_name == "failing"
    assert "sensor unplugged" in str(info.value)
    # The traceback of the original exception is kept, down to the line that raised it.
    frames = []
    tb = cause.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "run"
    assert source.cleanups == [True]


def test_sources_alone_embedded(embedded_app):
    app = embedded_app()
    a, b = Counting("alone-a", 30), Counting("alone-b", 10)
    app.add_source(a)
    app.add_source(b, app.topic("alone-out"))
    started = time.monotonic()
    assert app.run() == []
    assert time.monotonic() - started < 30
    assert a.cleanups == [False] and b.cleanups == [False]


# -- connect callbacks ------------------------------------------------------------------------


class Connecting(Source):
    def __init__(self, name, fail_setup, **kwargs):
        super().__init__(name=name, **kwargs)
        self.fail_setup = fail_setup
        self.ran = False

    def setup(self):
        if self.fail_setup:
            raise ConnectionRefusedError("no database")

    def run(self):
        self.ran = True


def test_connect_callbacks(embedded_app):
    calls = []
    ok = Connecting("conn-ok", False, on_client_connect_success=lambda: calls.append("ok"),
                    on_client_connect_failure=lambda e: calls.append(("failed", e)))
    app = embedded_app()
    app.add_source(ok)
    app.run()
    assert calls == ["ok"] and ok.ran

    # A failure callback that returns resolves the failure: run() goes ahead.
    calls.clear()
    resolved = Connecting("conn-resolved", True,
                          on_client_connect_success=lambda: calls.append("ok"),
                          on_client_connect_failure=lambda e: calls.append(("failed", e)))
    app = embedded_app()
    app.add_source(resolved)
    app.run()
    assert len(calls) == 1 and calls[0][0] == "failed"
    assert type(calls[0][1]) is ConnectionRefusedError and resolved.ran

    # The default failure callback re-raises: the source fails.
    failing = Connecting("conn-default", True)
    app = embedded_app()
    app.add_source(failing)
    with pytest.raises(SourceException) as info:
        app.run()
    assert type(info.value.__cause__) is ConnectionRefusedError
    assert not failing.ran

    # A success callback that raises goes to the failure callback (as Quix Streams does).
    def bad_success():
        raise RuntimeError("logging failed")

    calls.clear()
    odd = Connecting("conn-odd", False, on_client_connect_success=bad_success,
                     on_client_connect_failure=lambda e: calls.append(e))
    app = embedded_app()
    app.add_source(odd)
    app.run()
    assert [type(e) for e in calls] == [RuntimeError] and odd.ran


def test_stop_that_raises_fails_the_run(embedded_app):
    class BadStop(Looping):
        def stop(self):
            super().stop()
            raise ValueError("cannot stop cleanly")

    app = embedded_app()
    app.add_source(BadStop("bad-stop"))
    with pytest.raises(SourceException) as info:
        app.run(timeout=0.3)
    assert type(info.value.__cause__) is ValueError


def test_source_ignoring_stop_is_left_after_shutdown_timeout(embedded_app):
    release = threading.Event()
    finished = threading.Event()
    events = []

    class Stubborn(Source):
        def run(self):
            release.wait(30)
            events.append(("returned", self.running))

        def cleanup(self, failed):
            events.append(("cleanup", failed))
            finished.set()

    app = embedded_app()
    source = Stubborn(name="stubborn", shutdown_timeout=0.3)
    app.add_source(source)
    started = time.monotonic()
    app.run(timeout=0.5)
    took = time.monotonic() - started
    assert 0.75 <= took < 5
    # run() returned with the source still running in the background.
    time.sleep(0.2)
    assert events == []
    # The thread keeps the source alive once the application and the source are gone.
    del app, source
    gc.collect()
    release.set()
    assert finished.wait(5)
    assert events == [("returned", False), ("cleanup", False)]


def test_a_source_left_running_does_not_abort_the_interpreter_at_exit(tmp_path):
    # A thread running Python code while the interpreter finalizes aborts the process
    # ("Fatal Python error"); streamframe raises SystemExit in it at exit, and its cleanup runs.
    program = tmp_path / "left_running.py"
    program.write_text(
        "import time, streamframe as sf\n"
        "from streamframe.sources import Source\n"
        "class Stubborn(Source):\n"
        "    def run(self):\n"
        "        while True:\n"
        "            time.sleep(0.01)\n"
        "    def cleanup(self, failed):\n"
        "        print('cleanup', failed, flush=True)\n"
        "app = sf.Application('embedded', consumer_group='g', loglevel='CRITICAL')\n"
        "app.add_source(Stubborn(name='stubborn', shutdown_timeout=0.2))\n"
        "app.run(timeout=0.3)\n"
        "print('run returned', flush=True)\n"
    )
    proc = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["run returned", "cleanup True"]
    assert "still runs at exit" in proc.stderr


def test_app_stop_from_another_thread_stops_the_sources(embedded_app):
    app = embedded_app()
    source = Looping("stopped")
    app.add_source(source)
    timer = threading.Timer(0.5, app.stop)
    timer.start()
    started = time.monotonic()
    app.run()
    timer.join()
    assert 0.4 <= time.monotonic() - started < 5
    assert not source.running and source.produced > 10


# -- against a real broker --------------------------------------------------------------------


def test_source_feeds_a_dataframe(brokers, tmp_path, name):
    source_name = name("counter")
    app = make_app(brokers, tmp_path, name)
    source = Counting(source_name, 50)
    sdf = app.dataframe(source=source)
    sdf["double"] = sdf["i"] * 2
    out = app.run(count=50, metadata=True)
    assert [o["i"] for o in out] == list(range(50))
    assert [o["double"] for o in out] == [2 * i for i in range(50)]
    assert [o["_key"] for o in out] == [b"k%d" % i for i in range(50)]
    assert [o["_timestamp"] for o in out] == [1000 + i for i in range(50)]
    assert all(o["_headers"] == [("origin", b"counter")] for o in out)
    assert all(o["_topic"] == f"source__{source_name}" for o in out)
    assert source.cleanups == [False] and not source.running


def test_sources_alone_run_until_they_return(brokers, tmp_path, name):
    app = make_app(brokers, tmp_path, name)
    a, b = Counting(name("a"), 30), Counting(name("b"), 20)
    out_topic = app.topic(name("out"))
    assert app.add_source(a, out_topic).name == out_topic.name
    assert app.add_source(b).name == f"source__{b.name}"
    started = time.monotonic()
    assert app.run() == []
    assert time.monotonic() - started < 30
    factory = lambda: make_app(brokers, tmp_path, name)  # noqa: E731
    assert [o["i"] for o in read_topic(factory, out_topic.name, 30)] == list(range(30))
    assert [o["i"] for o in read_topic(factory, f"source__{b.name}", 20)] == list(range(20))


def test_timeout_stops_a_looping_source_and_everything_it_produced_is_flushed(
        brokers, tmp_path, name):
    app = make_app(brokers, tmp_path, name)
    source = Looping(name("loop"))
    app.add_source(source)
    started = time.monotonic()
    app.run(timeout=1.5)
    took = time.monotonic() - started
    assert 1.4 <= took < 10
    assert not source.running
    assert source.produced > 10
    factory = lambda: make_app(brokers, tmp_path, name)  # noqa: E731
    got = read_topic(factory, f"source__{source.name}", source.produced)
    assert [o["n"] for o in got] == list(range(source.produced))
    # Nothing more than what it counted: a longer read finds no extra record.
    reader = factory()
    reader.dataframe(reader.topic(f"source__{source.name}"))
    assert len(reader.run(timeout=2)) == source.produced


def test_failing_source_stops_the_app_after_a_final_checkpoint(brokers, tmp_path, name):
    group = name("g")
    app = make_app(brokers, tmp_path, name, consumer_group=group, commit_interval=60)
    seen = []

    class FailsOnceSeen(Counting):
        def run(self):
            try:
                super().run()
            except RuntimeError:
                # Fails only once the application has processed some of its records.
                deadline = time.monotonic() + 20
                while len(seen) < 10 and time.monotonic() < deadline:
                    time.sleep(0.01)
                raise

    source = FailsOnceSeen(name("failing"), 40, fail_with=RuntimeError("sensor unplugged"))
    app.dataframe(source=source).update(lambda v: seen.append(v["i"]))
    with pytest.raises(SourceException) as info:
        app.run()
    assert type(info.value.__cause__) is RuntimeError
    assert str(info.value.__cause__) == "sensor unplugged"
    assert source.cleanups == [True]
    # Graceful: what was processed is committed (commit_interval is 60 s: only the final
    # checkpoint commits), so the same group starts after it.
    processed = len(seen)
    assert 10 <= processed <= 40
    again = make_app(brokers, tmp_path, name, consumer_group=group)
    again.dataframe(again.topic(f"source__{source.name}"))
    rest = again.run(timeout=3)
    assert [o["i"] for o in rest] == list(range(processed, 40))


def test_exactly_once_app_reads_its_sources_records_once(brokers, tmp_path, name):
    app = make_app(brokers, tmp_path, name, processing_guarantee="exactly-once",
                   commit_interval=0.2)
    out_topic = app.topic(name("eos-out"))
    source = Counting(name("eos"), 200)
    app.dataframe(source=source).to_topic(out_topic)
    assert len(app.run(count=200)) == 200
    factory = lambda: make_app(  # noqa: E731
        brokers, tmp_path, name, consumer_extra_config={"isolation.level": "read_committed"})
    # The source's records are not transactional: readable by a read_committed consumer.
    assert [o["i"] for o in read_topic(factory, f"source__{source.name}", 200)] == list(
        range(200))
    assert [o["i"] for o in read_topic(factory, out_topic.name, 200)] == list(range(200))


# -- StatefulSource (SRC-03) and CSVSource (SRC-05) ---------------------------------------------


class Resuming(sources.StatefulSource):
    """Produces `per_run` numbers from where its state says it stopped; flushes every 5 records.
    With `fail_after` it sets its state past that number and raises before the next flush."""

    def __init__(self, name, per_run, fail_after=None):
        super().__init__(name=name)
        self.per_run = per_run
        self.fail_after = fail_after
        self.started_at = None
        self.had_marker = None
        self.marker = None

    def run(self):
        state = self.state
        self.started_at = state.get("next", 0)
        self.had_marker = state.exists("marker")
        self.marker = state.get("marker")
        if self.had_marker:
            state.delete("marker")
            assert not state.exists("marker") and state.get("marker", "gone") == "gone"
        else:
            state.set("marker", {"set_by": [self.started_at, "run"]})
        n = self.started_at
        while n < self.started_at + self.per_run and self.running:
            self.produce(value=str(n))
            self.state.set("next", n + 1)
            if n == self.fail_after:
                raise RuntimeError("lost power")
            if (n + 1) % 5 == 0:
                self.flush()
            n += 1


def test_stateful_source_outside_an_application_has_no_state():
    source = Resuming("loose", 1)
    with pytest.raises(sf.InvalidOperation, match="added to an application"):
        source.state.get("next")
    assert source.store_name == "source-loose" and source.store_partitions_count == 1


def test_stateful_source_resumes_from_its_last_flush(brokers, tmp_path, name):
    """Each run is a new Application of the same consumer group (and a fresh state_dir: the
    state comes from the changelog topic only)."""
    group = name("g")
    source_name = name("resuming")
    runs = iter(range(100))

    def run_once(per_run, fail_after=None):
        app = make_app(brokers, tmp_path / f"run{next(runs)}", name, consumer_group=group)
        source = Resuming(source_name, per_run, fail_after)
        app.add_source(source)
        if fail_after is None:
            app.run()
        else:
            with pytest.raises(SourceException) as info:
                app.run()
            assert str(info.value.__cause__) == "lost power"
        return source.started_at, source.marker

    assert run_once(10) == (0, None)
    # The marker was restored (a JSON object with a list), and deleted by this run.
    assert run_once(10) == (10, {"set_by": [0, "run"]})
    # Produces 20..27 with the state flushed at 25 (after 20..24: the new marker with it), then
    # fails before the next flush: "next" as set for 25..27 is lost.
    assert run_once(10, fail_after=27) == (20, None)
    assert run_once(5) == (25, {"set_by": [20, "run"]})

    def factory():
        return make_app(brokers, tmp_path / "reader", name)

    got = [o["_value"] if isinstance(o, dict) and "_value" in o else o
           for o in read_values(factory, f"source__{source_name}", 33)]
    assert got == list(range(28)) + list(range(25, 30))  # 25..27 again after the failure


def read_values(app_factory, topic_name, count):
    reader = app_factory()
    reader.dataframe(reader.topic(topic_name))
    return reader.run(count=count, timeout=10)


def write_csv(path, text):
    path.write_bytes(text.encode())
    return path


def test_csv_source_rows_keys_timestamps_and_quoting(embedded_app, tmp_path):
    path = write_csv(tmp_path / "in.csv", (
        'id,ts,text\r\n'
        '1,1700000000000,plain\r\n'
        '2,1700000001000,"with, comma"\r\n'
        '\r\n'
        '3,1700000002000,"with ""quotes"" and\nnewline"\r\n'
        '4,1700000003000,\r\n'))
    calls = []

    def key(row):
        calls.append((threading.current_thread() is not threading.main_thread(), dict(row)))
        return "id-" + row["id"]

    source = sources.CSVSource(path, "csv", key_extractor=key,
                               timestamp_extractor=lambda row: int(row["ts"]) + 1)
    app = embedded_app()
    sdf = app.dataframe(source=source)
    out = app.run(count=4, timeout=10, metadata=True)
    assert [{k: v for k, v in o.items() if not k.startswith("_")} for o in out] == [
        {"id": "1", "ts": "1700000000000", "text": "plain"},
        {"id": "2", "ts": "1700000001000", "text": "with, comma"},
        {"id": "3", "ts": "1700000002000", "text": 'with "quotes" and\nnewline'},
        {"id": "4", "ts": "1700000003000", "text": ""},
    ]
    assert [o["_key"] for o in out] == ["id-1", "id-2", "id-3", "id-4"]  # a str key serde
    assert [o["_timestamp"] for o in out] == [1700000000001 + 1000 * i for i in range(4)]
    assert all(o["_topic"] == "source__csv" for o in out)
    assert [row for _, row in calls] == [{k: v for k, v in o.items() if not k.startswith("_")}
                                         for o in out]
    assert all(in_source_thread for in_source_thread, _ in calls)
    del sdf


def test_csv_source_dialects_delay_and_no_extractors(embedded_app, tmp_path):
    path = write_csv(tmp_path / "in.tsv", "a\tb\nx,1\ty\n")
    app = embedded_app()
    source = sources.CSVSource(str(path), "tsv", dialect="excel-tab", delay=0.2)
    app.dataframe(source=source)
    before = int(time.time() * 1000)
    out = app.run(count=1, timeout=10, metadata=True)
    assert [(o["a"], o["b"], o["_key"]) for o in out] == [("x,1", "y", None)]
    assert before - 1000 <= out[0]["_timestamp"] <= int(time.time() * 1000)  # the producer's

    with pytest.raises(sf.ConfigError, match="dialect"):
        embedded_app().add_source(sources.CSVSource(path, "bad", dialect="semicolon"))


def test_csv_source_errors_fail_the_run(embedded_app, tmp_path):
    app = embedded_app()
    app.add_source(sources.CSVSource(tmp_path / "missing.csv", "missing"))
    with pytest.raises(SourceException) as info:
        app.run(timeout=10)
    assert "missing.csv" in str(info.value.__cause__)

    path = write_csv(tmp_path / "in.csv", "a\n1\n")
    app = embedded_app()

    def broken(row):
        raise KeyError("no such column")

    app.add_source(sources.CSVSource(path, "broken", key_extractor=broken))
    with pytest.raises(SourceException) as info:
        app.run(timeout=10)
    assert type(info.value.__cause__) is KeyError


def test_kafka_replicator_source_copies_another_cluster(brokers, tmp_path, name, embedded_app):
    # Two clusters: the applications run on embedded brokers (one in-process cluster each), the
    # replicator reads the real test broker, where its group keeps the committed offsets. A
    # second application, on a new embedded cluster that knows nothing of the first, copies only
    # what came after them.
    from streamframe.models import TopicConfig

    other = make_app(brokers, tmp_path, name)
    original = other.topic(name("orig"),
                           config=TopicConfig(num_partitions=2, replication_factor=1))

    def produce(ids):
        with other.get_producer() as producer:
            for i in ids:
                producer.produce(original.name, key=f"k{i}".encode(), value=json.dumps({"i": i}),
                                 partition=i % 2, timestamp=5000 + i, headers=[("h", b"v")])

    produce(range(20))
    replicator = name("repl")

    def copy(count):
        app = embedded_app(consumer_group=name("g"))
        source = sources.KafkaReplicatorSource(name=replicator, app_config=None,
                                               topic=original.name, broker_address=brokers,
                                               auto_offset_reset="earliest")
        app.dataframe(source=source)
        return app.run(count=count, timeout=30, metadata=True)

    out = copy(20)
    assert sorted(o["i"] for o in out) == list(range(20))
    for o in out:
        assert o["_partition"] == o["i"] % 2
        assert o["_timestamp"] == 5000 + o["i"]
        assert o["_key"] == b"k%d" % o["i"]  # the bytes key deserializer
        assert o["_headers"] == [("h", b"v")]

    produce(range(20, 25))
    out = copy(5)
    assert sorted(o["i"] for o in out) == [20, 21, 22, 23, 24]
