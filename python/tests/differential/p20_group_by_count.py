"""group_by a column, then a stateful count. One input partition: the order in which the two
input partitions interleave on the way through the repartition topic is not deterministic."""
import json
import os

from quixstreams import Application

app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
)
sdf = app.dataframe(app.topic(os.environ["INPUT_ONE_PARTITION"]))


def count(value, state):
    n = state.get("n", 0) + 1
    state.set("n", n)
    return {"name": value["name"], "n": n}


sdf = sdf.group_by("name").apply(count, stateful=True)
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
