"""Series helpers: isin, contains, isnull, notnull, abs."""
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


sdf["in_set"] = sdf["name"].isin(["a", "b"])
sdf["has_x"] = sdf["tags"].contains("x")
sdf["no_maybe"] = sdf["maybe"].isnull()
sdf["some_maybe"] = sdf["maybe"].notnull()
sdf["abs_neg"] = sdf["neg"].abs()
sdf = sdf[["i", "in_set", "has_x", "no_maybe", "some_maybe", "abs_neg"]]
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
