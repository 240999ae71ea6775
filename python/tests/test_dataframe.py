"""StreamingDataFrame and StreamingSeries with Quix Streams' names (PY-02, PY-05), run through
sdf.test(): expressions evaluate natively, callables are Python."""

from datetime import timedelta

import pytest

import streamframe as sf
from streamframe.models import TopicConfig


@pytest.fixture
def app(embedded_app):
    return embedded_app()


@pytest.fixture
def new_sdf(app, name):
    return lambda: app.dataframe(app.topic(name("in")))


def test_the_readme_pipeline(new_sdf):
    sdf = new_sdf()
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32
    sdf = sdf[sdf["temperature_F"] > 150]
    assert sdf.test({"temperature": 100}) == [{"temperature": 100, "temperature_F": 212.0}]
    assert sdf.test({"temperature": 20}) == []


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda s: s["a"] + 1, 11),
        (lambda s: 1 + s["a"], 11),
        (lambda s: s["a"] - 3, 7),
        (lambda s: 3 - s["a"], -7),
        (lambda s: s["a"] * 2.5, 25.0),
        (lambda s: 2 * s["a"], 20),
        (lambda s: s["a"] / 4, 2.5),
        (lambda s: 40 / s["a"], 4.0),
        (lambda s: s["a"] % 3, 1),
        (lambda s: 23 % s["a"], 3),
        (lambda s: s["a"] == 10, True),
        (lambda s: s["a"] != 10, False),
        (lambda s: s["a"] < 11, True),
        (lambda s: s["a"] <= 9, False),
        (lambda s: s["a"] > 9, True),
        (lambda s: s["a"] >= 11, False),
        (lambda s: (s["a"] > 5) & (s["b"] == "x"), True),
        (lambda s: (s["a"] > 50) | (s["b"] == "y"), False),
        (lambda s: ~(s["a"] > 50), True),
        (lambda s: s["n"]["inner"][1], "q"),
        (lambda s: s["b"].isin(["x", "z"]), True),
        (lambda s: s["n"]["inner"].contains("q"), True),
        (lambda s: s["missing_value"].isnull(), True),
        (lambda s: s["a"].notnull(), True),
        (lambda s: s["neg"].abs(), 4),
        (lambda s: abs(s["neg"]), 4),
        (lambda s: s["missing_value"].is_(None), True),
        (lambda s: s["a"].isnot(None), True),
        (lambda s: s["missing_value"] == None, True),  # noqa: E711 (a Series, not a bool)
        (lambda s: s["b"].apply(lambda b: b.upper()), "X"),
    ],
)
def test_series_expressions(new_sdf, make, expected):
    sdf = new_sdf()
    sdf["out"] = make(sdf)
    row = {"a": 10, "b": "x", "neg": -4, "missing_value": None, "n": {"inner": ["p", "q"]}}
    assert sdf.test(row) == [{**row, "out": expected}]


def test_series_test_evaluates_one_value(new_sdf):
    sdf = new_sdf()
    assert (sdf["a"] * 3).test({"a": 2}) == 6


def test_projection_drop_and_constants(new_sdf):
    sdf = new_sdf()
    sdf["c"] = 5
    sdf["d"] = None
    sdf = sdf[["a", "c", "d"]]
    assert sdf.test({"a": 1, "b": 2}) == [{"a": 1, "c": 5, "d": None}]
    sdf2 = new_sdf()
    sdf2.drop(["b"])
    sdf2.drop("c", errors="ignore")
    assert sdf2.test({"a": 1, "b": 2}) == [{"a": 1}]
    sdf3 = new_sdf()
    sdf3.drop("zz")
    with pytest.raises(sf.ColumnDoesNotExist):
        sdf3.test({"a": 1})


def test_a_column_from_apply(new_sdf):
    sdf = new_sdf()
    sdf["len"] = sdf.apply(lambda v: len(v["s"]))
    assert sdf.test({"s": "four"}) == [{"s": "four", "len": 4}]


def test_apply_expand_filter_and_update(new_sdf):
    sdf = new_sdf()
    sdf = sdf.apply(lambda v: [{"w": w} for w in v["text"].split()], expand=True)
    sdf = sdf.filter(lambda v: v["w"] != "the")
    sdf.update(lambda v: v.update(n=len(v["w"])))
    assert sdf.test({"text": "the quick fox"}) == [{"w": "quick", "n": 5}, {"w": "fox", "n": 3}]


def test_stateful_callables(new_sdf):
    sdf = new_sdf()

    def count(value, state):
        n = state.get("n", 0) + 1
        state.set("n", n)
        return {**value, "n": n}

    def forget_at_three(value, state):
        if value["n"] == 3:
            state.delete("n")
        value["had"] = state.exists("n")

    def seen_before(value, key, timestamp, headers, state):
        first = not state.exists("seen")
        state.set("seen", True)
        return first

    sdf = sdf.apply(count, stateful=True)
    sdf.update(forget_at_three, stateful=True)
    sdf = sdf.filter(seen_before, stateful=True, metadata=True)
    assert sdf.test({"x": 1}, key=b"a") == [{"x": 1, "n": 1, "had": True}]
    assert sdf.test({"x": 1}, key=b"a") == []
    assert sdf.test({"x": 1}, key=b"b") == [{"x": 1, "n": 1, "had": True}]
    sdf.test({"x": 1}, key=b"a")  # n == 3: deleted
    assert sdf.test({"x": 1}, key=b"a") == []  # n starts again, but "seen" stays


def test_a_missing_column_is_column_does_not_exist(new_sdf):
    sdf = new_sdf()
    sdf["y"] = sdf["nope"] + 1
    with pytest.raises(sf.ColumnDoesNotExist, match="nope"):
        sdf.test({"x": 1})


def test_what_streamframe_lacks_is_not_implemented_at_definition(app, new_sdf):
    sdf = new_sdf()
    with pytest.raises(NotImplementedError, match="truth value"):
        bool(sdf["a"] > 1)
    with pytest.raises(NotImplementedError, match="__floordiv__"):
        sdf["a"] // 2
    with pytest.raises(NotImplementedError, match="__pow__"):
        sdf["a"] ** 2
    with pytest.raises(NotImplementedError, match="quix_sdk_token"):
        sf.Application("embedded", quix_sdk_token="x")
    with pytest.raises(NotImplementedError, match="QuixTimeseriesSerializer"):
        app.topic("x", value_serializer=sf.models.QuixTimeseriesSerializer())
    with pytest.raises(NotImplementedError, match="on_consumer_error"):
        sf.sources.KafkaReplicatorSource(name="r", app_config=None, topic="t",
                                         broker_address="b", on_consumer_error=print)
    class MemoryStore:  # the name of Quix Streams' in-memory store class
        pass
    with pytest.raises(NotImplementedError, match="MemoryStore"):
        sdf.register_store(store_type=MemoryStore)
    with pytest.raises(TypeError, match="RocksDBStore, not 'int'"):
        sdf.register_store(store_type=1)
    with pytest.raises(sf.ConfigError, match="join_asof takes 'inner' or 'left'"):
        sdf.join_asof(new_sdf(), how="outer")
    with pytest.raises(sf.ConfigError, match="on_merge"):
        sdf.join_interval(new_sdf(), on_merge="keep-both")
    with pytest.raises(TypeError, match="no_such_argument"):
        sf.Application("embedded", no_such_argument=1)


def test_window_durations_take_milliseconds_or_timedelta(new_sdf):
    from streamframe.dataframe.windows import Count, Sum

    sdf = new_sdf()
    sdf.tumbling_window(timedelta(seconds=1)).agg(n=Count(), total=Sum("a")).final()
    new_sdf().hopping_window(1000, timedelta(milliseconds=500), grace_ms=timedelta(0)).sum()
    with pytest.raises(sf.ConfigError, match="timedelta"):
        new_sdf().sliding_window("1s")


def test_topic_settings(app, name):
    topic = app.topic(name("cfg"), config=TopicConfig(num_partitions=3, replication_factor=1))
    assert topic.num_partitions == 3
    assert topic.name.startswith("py-cfg-")
    with pytest.raises(sf.ConfigError, match="serdes"):
        app.topic("x", value_serializer="avro")
