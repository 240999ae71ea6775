"""A callable that fails on some records, skipped by on_processing_error."""
import json
import os

from quixstreams import Application

app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
    on_processing_error=lambda exc, row, logger: isinstance(exc, ZeroDivisionError),
)
sdf = app.dataframe(app.topic(os.environ["INPUT"]))


sdf = sdf.apply(lambda v: {"i": v["i"], "inverse": 1 / (v["i"] % 5)})
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
