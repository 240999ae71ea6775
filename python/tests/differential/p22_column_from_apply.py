"""A column set from an apply; a column from a Series.apply."""
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


sdf["tag_count"] = sdf.apply(lambda v: len(v["tags"]))
sdf["name_len"] = sdf["name"].apply(len)
sdf = sdf[["i", "tag_count", "name_len"]]
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
