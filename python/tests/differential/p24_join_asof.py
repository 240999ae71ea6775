"""join_asof (how="left", on_merge="raise"): each trade takes the latest quote of its key at or
before its timestamp; trades older than every quote of their key keep their own columns only.

Quix Streams reads the two topics of a join in fetch order, so which quote a trade meets would
depend on timing. Here the trades do not exist until every quote has been processed: the program
produces them from on_message_processed after the last quote, so both systems meet the same
quotes whatever their fetch order."""
import json
import os

from quixstreams import Application
from quixstreams.models import TopicConfig

QUOTES = int(os.environ["INPUT_RECORDS"])
BASE_MS = 1_700_000_000_000

trades_topic = os.environ["GROUP"] + "-trades"
processed = {"quotes": 0}


def after_each(topic, partition, offset):
    if topic != os.environ["INPUT"]:
        return
    processed["quotes"] += 1
    if processed["quotes"] == QUOTES:
        with app.get_producer() as producer:
            for i in range(80):
                value = {"trade": i, "qty": i % 5 + 1}
                producer.produce(trades_topic, key=f"k{i % 4}".encode(),
                                 value=json.dumps(value).encode(),
                                 timestamp=BASE_MS - 2_000 + i * 777)


app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
    on_message_processed=after_each,
)
quotes = app.dataframe(app.topic(os.environ["INPUT"]))[["i", "x"]]
trades = app.dataframe(
    app.topic(trades_topic, config=TopicConfig(num_partitions=2, replication_factor=1)))
sdf = trades.join_asof(quotes, how="left")
sdf["notional"] = sdf.apply(lambda v: round(v["qty"] * v["x"], 6) if "x" in v else None)
outputs = app.run(timeout=float(os.environ["IDLE_TIMEOUT"]), metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
