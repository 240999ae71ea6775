"""A sliding window max, final."""
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


sdf = sdf.apply(lambda v: v["x"])
sdf = sdf.sliding_window(duration_ms=2000).max().final()
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
