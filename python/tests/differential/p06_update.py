"""update changing the value in place."""
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
sdf = app.dataframe(app.topic(os.environ["INPUT"]))


def add_fields(value):
    value["double"] = value["i"] * 2
    value["tags"].append("seen")


sdf = sdf.update(add_fields)
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
