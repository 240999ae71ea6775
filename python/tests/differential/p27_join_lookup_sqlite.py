"""join_lookup on a SQLite file: a table field with a default, an ordered many-row field and a
query field by a column; a field by a callable of the message key."""
import json
import os
import sqlite3

from quixstreams import Application
from quixstreams.dataframe.joins.lookups import (
    SQLiteLookup,
    SQLiteLookupField,
    SQLiteLookupQueryField,
)

os.makedirs(os.environ["STATE_DIR"], exist_ok=True)
path = os.path.join(os.environ["STATE_DIR"], "lookup.sqlite")
db = sqlite3.connect(path)
db.executescript("""
    CREATE TABLE teams (name TEXT, team TEXT, level INTEGER);
    INSERT INTO teams VALUES ('a', 'red', 1), ('b', 'blue', 2), ('c', 'red', 3);
    CREATE TABLE scores (name TEXT, score REAL);
    INSERT INTO scores VALUES ('a', 1.5), ('a', 7.25), ('b', 3.0), ('c', 2.0), ('c', 9.5);
    CREATE TABLE keys (k TEXT, shard INTEGER);
    INSERT INTO keys VALUES ('k0', 10), ('k1', 11), ('k2', 12);
""")
db.commit()
db.close()

app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
)
lookup = SQLiteLookup(path=path)
sdf = app.dataframe(app.topic(os.environ["INPUT"]))[["i", "name"]]
sdf = sdf.join_lookup(lookup, on="name", fields={
    "team": SQLiteLookupField(table="teams", columns=["team", "level"], on="name", default={}),
    "scores": SQLiteLookupField(table="scores", columns=["score"], on="name", order_by="score",
                           order_by_direction="DESC", first_match_only=False),
    "n": SQLiteLookupQueryField(query="SELECT count(*), max(score) FROM scores WHERE name = :name"),
})
# By the message key (bytes) through a callable: Quix Streams binds a bare bytes key as a BLOB,
# which equals no TEXT column; streamframe binds it as text (a Δ this program leaves out).
sdf = sdf.join_lookup(lookup, on=lambda value, key: key.decode(), fields={
    "shard": SQLiteLookupField(table="keys", columns=["shard"], on="k", default={"shard": -1}),
})
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
