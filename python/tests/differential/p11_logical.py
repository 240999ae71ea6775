"""Logical and, or, not of comparisons, as a filter and as a column."""
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


sdf["both"] = (sdf["i"] > 50) & (sdf["name"] == "a")
sdf["either"] = (sdf["i"] < 10) | (sdf["name"] == "b")
sdf = sdf[~(sdf["x"] > 30.0)]
sdf = sdf[["i", "both", "either"]]
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
