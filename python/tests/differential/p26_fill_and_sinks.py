"""fill() and two sinks: a ListSink with metadata and a BatchingSink subclass. The output is
what run() returned, then what each sink received (the BatchingSink's batches sorted, as
checkpoints may cut them differently)."""
import json
import os

from quixstreams import Application
from quixstreams.sinks import BatchingSink
from quixstreams.sinks.core.list import ListSink


class Totals(BatchingSink):
    def __init__(self):
        super().__init__()
        self.items = []

    def write(self, batch):
        for item in batch:
            self.items.append({"_partition": batch.partition, "_offset": item.offset,
                               "_key": item.key, "_timestamp": item.timestamp,
                               "total": item.value["total"]})


app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
)
sdf = app.dataframe(app.topic(os.environ["INPUT"]))
sdf = sdf[["i", "maybe", "x"]]
sdf.fill("missing", maybe=-1)
listed = ListSink(metadata=True)
sdf.sink(listed)
totals = Totals()
sdf2 = sdf.apply(lambda v: {"total": v["maybe"] + v["i"]})
sdf2.sink(totals)
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
rows = outputs + [{**r, "_from": "list"} for r in listed]
rows += [{**r, "_from": "batching"} for r in totals.items]
print("OUTPUTS " + json.dumps(rows, default=lambda b: b.decode()))
