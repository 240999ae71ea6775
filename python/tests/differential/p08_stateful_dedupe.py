"""A stateful filter passing the first record of each name per key."""
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


def first_of_name(value, state):
    if state.exists(value["name"]):
        return False
    state.set(value["name"], True)
    return True


sdf = sdf.filter(first_of_name, stateful=True)
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
