"""A session window sum per key with an on_late callback, final."""
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

late = []


def on_late(value, key, timestamp_ms, late_by_ms, start, end, store_name, topic, partition, offset):
    late.append({"i": value, "late_by_ms": late_by_ms, "partition": partition, "offset": offset})
    return False


sdf = sdf.apply(lambda v: v["i"])
sdf = sdf.session_window(inactivity_gap_ms=600, on_late=on_late).sum().final()
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
outputs.append({"late": sorted(late, key=lambda r: (r["partition"], r["offset"]))})
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
