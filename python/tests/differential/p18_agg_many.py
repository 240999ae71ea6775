"""Several aggregations at once with agg, final."""
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


from quixstreams.dataframe.windows import Count, Max, Mean, Min, Sum

sdf = sdf.tumbling_window(duration_ms=5000).agg(
    n=Count(), total=Sum("i"), avg=Mean("x"), low=Min("x"), high=Max("i")
).final()
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
