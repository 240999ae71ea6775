"""streamframe.sinks.community.postgresql.PostgreSQLSink and streamframe.sinks.core.csv.CSVSink:
Quix Streams' arguments, written by the engine against a real PostgreSQL (scripts/postgres):
table creation, schema evolution, upsert, callables for the table and the primary key, typed
errors, connect callbacks, and the sinks' add()/flush() refusing to be called by hand."""

import csv
import json
import uuid

import pytest

import streamframe as sf
from streamframe.sinks.community.postgresql import PostgreSQLSink, PostgreSQLSinkException
from streamframe.sinks.core.csv import CSVSink


def produce(app, topic, records):
    with app.get_producer() as producer:
        for key, value, timestamp in records:
            producer.produce(topic.name, value=json.dumps(value), key=key, timestamp=timestamp)


@pytest.fixture
def schema(pg):
    name = f"py_sink_{uuid.uuid4().hex[:8]}"
    yield name
    pg[2](f"DROP SCHEMA IF EXISTS {name} CASCADE")


def sink(pg, schema, **kwargs):
    host, port, _ = pg
    return PostgreSQLSink(host=host, port=port, dbname="streamframe", user="streamframe",
                          password="streamframe", schema_name=schema, **kwargs)


def test_rows_columns_and_types(embedded_app, name, pg, schema):
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(sink(pg, schema, table_name="readings"))
    produce(app, topic, [(b"k1", {"id": 1, "t": 21, "tags": ["a"]}, 1700000000000),
                         (b"k2", {"id": 2, "t": 21.5, "ok": True, "name": "é"}, 1700000000001)])
    app.run(count=2)
    psql = pg[2]
    assert psql(f"SELECT column_name, data_type FROM information_schema.columns WHERE "
                f"table_schema = '{schema}' AND table_name = 'readings' "
                f"ORDER BY ordinal_position") == [
        ["timestamp", "timestamp without time zone"], ["__key", "text"], ["id", "bigint"],
        ["t", "double precision"], ["tags", "jsonb"], ["ok", "boolean"], ["name", "text"]]
    assert psql(f"SELECT __key, id, t, tags, ok, name, timestamp FROM {schema}.readings "
                f"ORDER BY id") == [
        ["k1", "1", "21", '["a"]', "", "", "2023-11-14 22:13:20"],
        ["k2", "2", "21.5", "", "t", "é", "2023-11-14 22:13:20.001"]]


def test_upsert_with_callables_for_table_and_key(embedded_app, name, pg, schema):
    app = embedded_app()
    topic = app.topic(name("in"))
    seen = []

    def table(item):
        seen.append(type(item).__name__)
        return f"dev_{item.value['kind']}"

    app.dataframe(topic).sink(sink(pg, schema, table_name=table,
                                   primary_key_columns=lambda item: ["id"],
                                   upsert_on_primary_key=True, include_metadata=False))
    produce(app, topic, [(b"k", {"kind": "a", "id": i % 3, "v": i}, i + 1) for i in range(9)])
    app.run(count=9)
    assert set(seen) == {"SinkItem"}
    assert pg[2](f"SELECT id, v FROM {schema}.dev_a ORDER BY id") == [
        ["0", "6"], ["1", "7"], ["2", "8"]]


def test_refused_write_raises_postgresql_sink_exception(embedded_app, name, pg, schema):
    psql = pg[2]
    psql(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.strict (id bigint NOT NULL, v bigint)")
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(sink(pg, schema, table_name="strict", include_metadata=False))
    produce(app, topic, [(b"k", {"id": 1, "v": "not a number"}, 1)])
    with pytest.raises(PostgreSQLSinkException) as info:
        app.run(count=1, timeout=10)
    assert isinstance(info.value, sf.StreamframeError)
    assert info.value.table == f"{schema}.strict"
    assert info.value.column == "v"
    assert info.value.sqlstate == "22P02"
    assert psql(f"SELECT count(*) FROM {schema}.strict") == [["0"]]


def test_connect_callbacks(embedded_app, name, pg, schema):
    calls = []
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(sink(pg, schema, table_name="t",
                                   on_client_connect_success=lambda: calls.append("ok")))
    produce(app, topic, [(b"k", {"id": 1}, 1)])
    app.run(count=1)
    assert calls == ["ok"]

    host, _, _ = pg
    failed = []

    def on_failure(error):
        failed.append(error)
        raise error

    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(PostgreSQLSink(
        host=host, port=1, dbname="streamframe", user="streamframe", password="x",
        table_name="t", connection_timeout_seconds=2, on_client_connect_failure=on_failure))
    produce(app, topic, [(b"k", {"id": 1}, 1)])
    with pytest.raises(PostgreSQLSinkException, match="cannot connect"):
        app.run(count=1, timeout=10)
    assert len(failed) == 1 and isinstance(failed[0], PostgreSQLSinkException)


def test_arguments_checked_at_definition(pg, schema):
    with pytest.raises(ValueError, match="at the same time"):
        sink(pg, schema, table_name="t", primary_key_columns="id", upsert_on_primary_key=True,
             on_conflict_do_nothing=True)
    with pytest.raises(sf.ConfigError, match="needs primary_key_columns"):
        sink(pg, schema, table_name="t", upsert_on_primary_key=True)
    with pytest.raises(NotImplementedError, match="options"):
        sink(pg, schema, table_name="t", options="-c x=1")
    s = sink(pg, schema, table_name="t")
    with pytest.raises(NotImplementedError, match="runs inside the engine"):
        s.add({}, None, 0, None, "t", 0, 0)


def test_csv_sink_writes_rows_natively(embedded_app, name, tmp_path):
    path = tmp_path / "out.csv"
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(CSVSink(str(path)))
    produce(app, topic, [(b"k1", {"a": 1, "s": "x,y"}, 5), (None, {"a": 2}, 6)])
    app.run(count=2)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["key", "value", "timestamp", "topic", "partition", "offset"]
    assert rows[1] == ["k1", '{"a":1,"s":"x,y"}', "5", topic.name, "0", "0"]
    assert rows[2] == ["None", '{"a":2}', "6", topic.name, "0", "1"]

    # Python serializers, called per record.
    path2 = tmp_path / "out2.csv"
    app = embedded_app()  # a new embedded broker: the records again
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(
        CSVSink(str(path2), dialect="unix", key_serializer=lambda k: repr(k),
                value_serializer=lambda v: json.dumps(v)))
    produce(app, topic, [(b"k1", {"a": 1, "s": "x,y"}, 5), (None, {"a": 2}, 6)])
    app.run(count=2)
    with open(path2, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][:2] == ["b'k1'", '{"a": 1, "s": "x,y"}']
    assert rows[2][:2] == ["None", '{"a": 2}']
