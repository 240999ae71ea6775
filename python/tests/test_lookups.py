"""join_lookup (JOIN-05) through the Python API: SQLite files, a real PostgreSQL
(scripts/postgres, STREAMFRAME_TEST_POSTGRES), the cache, the buffer, and what is refused."""

import dataclasses
import json
import sqlite3
import uuid

import pytest

import streamframe as sf
from streamframe.dataframe.joins.lookups import (
    BaseField,
    BaseLookup,
    LookupBuffer,
    SQLiteLookup,
    SQLiteLookupField,
    SQLiteLookupQueryField,
)


def produce(app, topic, records):
    with app.get_producer() as producer:
        for key, value, timestamp in records:
            producer.produce(topic.name, value=json.dumps(value), key=key, timestamp=timestamp)


@pytest.fixture
def users_db(tmp_path):
    path = tmp_path / "users.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE users (id INTEGER, name TEXT, tier TEXT);
        INSERT INTO users VALUES (1, 'ann', 'gold'), (2, 'bob', 'free');
    """)
    db.commit()
    db.close()
    return path


def test_sqlite_lookup_by_column_and_callable_with_its_cache(embedded_app, name, users_db):
    app = embedded_app()
    topic = app.topic(name("in"))
    lookup = SQLiteLookup(path=str(users_db), cache_size=10)
    sdf = app.dataframe(topic).join_lookup(lookup, on="user", fields={
        "user_row": SQLiteLookupField(table="users", columns=["name", "tier"], on="id",
                                      default={"name": None}),
        "count": SQLiteLookupQueryField(query="SELECT count(*) FROM users WHERE id <= :user"),
    })
    calls = []

    def tier_key(value, key):
        calls.append(key)
        return value["user_row"]["name"] or "nobody"

    sdf = sdf.join_lookup(lookup, on=tier_key, fields={
        "by_name": SQLiteLookupField(table="users", columns=["id"], on="name", default=-1)})
    produce(app, topic, [(b"k", {"user": u}, 1000 + i) for i, u in enumerate([1, 2, 1, 3])])
    out = app.run(count=4)
    assert [o["user_row"] for o in out] == [
        {"name": "ann", "tier": "gold"}, {"name": "bob", "tier": "free"},
        {"name": "ann", "tier": "gold"}, {"name": None}]
    assert [o["count"] for o in out] == [[1], [2], [1], [2]]
    assert [o["by_name"] for o in out] == [{"id": 1}, {"id": 2}, {"id": 1}, -1]
    assert calls == [b"k"] * 4  # the key as the topic's key deserializer gives it
    info = lookup.cache_info()
    # Per (field, lookup key): user 1's two table fields and query hit on its second record.
    assert info["hits"] >= 3 and info["misses"] >= 6 and info["max_size"] == 10


def test_lookup_buffer_holds_records_until_their_key_resolves(embedded_app, name, tmp_path):
    path = tmp_path / "config.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE config (device TEXT, threshold REAL);"
                     "INSERT INTO config VALUES ('d1', 5.0);")
    db.commit()
    db.close()
    app = embedded_app()
    topic = app.topic(name("in"), key_deserializer="str")
    lookup = SQLiteLookup(path=str(path))
    buffer = LookupBuffer(grace_ms=60_000, is_resolved=lambda v: v["cfg"] is not None)
    sdf = app.dataframe(topic).join_lookup(
        lookup, on="device", buffer=buffer,
        fields={"cfg": SQLiteLookupField(table="config", columns=["threshold"], on="device",
                                         ttl=0)})
    # d2 has no configuration: held. When it gets one, the next d2 record releases both.
    produce(app, topic, [(b"d1", {"device": "d1", "x": 1}, 1000),
                         (b"d2", {"device": "d2", "x": 2}, 1001)])
    # Both records processed (an idle timeout, no count): only d1 comes out.
    assert app.run(timeout=3) == [{"device": "d1", "x": 1, "cfg": {"threshold": 5.0}}]
    db = sqlite3.connect(path)
    db.execute("INSERT INTO config VALUES ('d2', 7.0)")
    db.commit()
    db.close()
    produce(app, topic, [(b"d2", {"device": "d2", "x": 3}, 1002)])
    assert app.run(timeout=3) == [
        {"device": "d2", "x": 2, "cfg": {"threshold": 7.0}},
        {"device": "d2", "x": 3, "cfg": {"threshold": 7.0}}]


def test_what_join_lookup_refuses(embedded_app, name, users_db):
    app = embedded_app()
    sdf = app.dataframe(app.topic(name("in")))
    lookup = SQLiteLookup(path=str(users_db))

    class NotALookup:
        pass

    with pytest.raises(sf.ConfigError, match="NotALookup"):
        sdf.join_lookup(NotALookup(), fields={})
    with pytest.raises(sf.ConfigError, match="field 'f'.*SQLiteLookupField"):
        sdf.join_lookup(lookup, fields={"f": {"table": "users"}})
    with pytest.raises(sf.ConfigError):
        sdf.join_lookup(lookup, fields={
            "f": SQLiteLookupField(table="users; drop table users", columns=["id"], on="id")})
    with pytest.raises(sf.LookupConnectionError):
        SQLiteLookup(path=str(users_db) + ".missing")


@pytest.fixture
def postgres(pg):
    host, port, psql = pg
    table = f"py_lookup_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE TABLE {table} (id bigint, name text, attrs jsonb, score double precision);"
         f"INSERT INTO {table} VALUES (1, 'ann', '{{\"a\": [1, 2]}}', 1.5), (2, 'bob', NULL, 2);")
    yield host, port, table
    psql(f"DROP TABLE {table}")


def test_postgres_lookup_against_a_real_server(embedded_app, name, postgres):
    from streamframe.dataframe.joins.lookups.postgresql import (
        PostgresLookup,
        PostgresLookupQueryField,
    )

    host, port, table = postgres
    lookup = PostgresLookup(host=host, port=port, dbname="streamframe", user="streamframe",
                            password="streamframe")
    app = embedded_app()
    topic = app.topic(name("in"))
    sdf = app.dataframe(topic).join_lookup(lookup, on="id", fields={
        "row": lookup.field(table=table, columns=["name", "attrs", "score"], on="id"),
        "above": PostgresLookupQueryField(
            query=f"SELECT count(*) FROM {table} WHERE score > %(min)s", first_match_only=True),
    })
    produce(app, topic, [(b"k", {"id": 1, "min": 1.0}, 1), (b"k", {"id": 9, "min": 1.8}, 2)])
    out = app.run(count=2)
    assert out[0]["row"] == {"name": "ann", "attrs": {"a": [1, 2]}, "score": 1.5}
    assert out[0]["above"] == [2]
    assert out[1]["row"] is None and out[1]["above"] == [1]

    with pytest.raises(sf.LookupConnectionError):
        PostgresLookup(host=host, port=port, dbname="streamframe", user="streamframe",
                       password="wrong", connection_timeout_seconds=2)


@dataclasses.dataclass(frozen=True)
class Scaled(BaseField):
    factor: int
    default: object = None


class Scaler(BaseLookup):
    """A lookup written in Python: value[name] = field.factor * value["x"]; x < 0 unresolved."""

    def __init__(self):
        self.calls = []

    def join(self, fields, on, value, key, timestamp, headers):
        self.calls.append((on, key, timestamp))
        for name, field in fields.items():
            value[name] = field.factor * value["x"] if value["x"] >= 0 else None


def test_a_lookup_written_in_python(embedded_app, name):
    app = embedded_app()
    topic = app.topic(name("in"))
    scaler = Scaler()
    sdf = app.dataframe(topic).join_lookup(
        scaler, fields={"double": Scaled(2), "triple": Scaled(3, default=0)})
    produce(app, topic, [(b"k", {"x": 1}, 10), (b"j", {"x": 5}, 11)])
    assert app.run(count=2) == [{"x": 1, "double": 2, "triple": 3},
                                {"x": 5, "double": 10, "triple": 15}]
    assert scaler.calls == [(b"k", b"k", 10), (b"j", b"j", 11)]  # on: the message key

    # With a buffer: an unresolved record waits for its grace, then gets the defaults.
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).join_lookup(
        Scaler(), on="id", fields={"double": Scaled(2), "triple": Scaled(3, default=0)},
        buffer=LookupBuffer(grace_ms=300, is_resolved=lambda v: v["double"] is not None))
    produce(app, topic, [(b"k", {"id": "a", "x": -1}, 10)])
    assert app.run(count=1, timeout=10) == [{"id": "a", "x": -1, "double": None, "triple": 0}]
