"""join_interval (how="inner", on_merge a callable): each purchase meets the clicks of its key
in the 2 s before it (forward_ms), one output per pair, with the purchase's key and timestamp.

As in p24, the second topic's records do not exist until every record of the first has been
processed (on_message_processed produces them), so the pairs do not depend on fetch order."""
import json
import os

from quixstreams import Application
from quixstreams.models import TopicConfig

CLICKS = int(os.environ["INPUT_RECORDS"])
BASE_MS = 1_700_000_000_000

purchases_topic = os.environ["GROUP"] + "-purchases"
processed = {"clicks": 0}


def after_each(topic, partition, offset):
    if topic != os.environ["INPUT"]:
        return
    processed["clicks"] += 1
    if processed["clicks"] == CLICKS:
        with app.get_producer() as producer:
            for p in range(30):
                value = {"p": p, "amount": 10 * p}
                producer.produce(purchases_topic, key=f"k{p % 4}".encode(),
                                 value=json.dumps(value).encode(),
                                 timestamp=BASE_MS + 1_000 + p * 1_900)


def merge(click, purchase):
    return {"click": click["i"], "x": click["x"], "purchase": purchase["p"],
            "amount": purchase["amount"]}


app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
    on_message_processed=after_each,
)
clicks = app.dataframe(app.topic(os.environ["INPUT"]))
purchases = app.dataframe(
    app.topic(purchases_topic, config=TopicConfig(num_partitions=2, replication_factor=1)))
sdf = clicks.join_interval(purchases, on_merge=merge, backward_ms=1_000, forward_ms=2_000)
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
