"""Quix Streams peer of the Nexmark benchmark suite (contract: bench/nexmark/SPEC.md).

Runs one workload with the Quix Streams DataFrame API until SIGTERM/SIGINT; Quix installs
the signal handlers itself, finishes the current checkpoint and `app.run()` returns.
"""

import argparse

from quixstreams import Application
from quixstreams.dataframe.windows import Max

WORKLOADS = ("q0", "q1", "q2", "q3", "q5", "q5-like", "q7", "q7-like", "q8", "wordcount",
             "temperature")
# Their output is a table (one update per record of the second stage): the driver compares
# each key's last value.
TABLE_WORKLOADS = ("q5", "q7")
# Their outputs are keyed by a group_by's key (a str), written as text.
JOIN_WORKLOADS = ("q3", "q8")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--brokers", required=True)
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--guarantee", choices=("alo", "eos"), default="alo")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--commit-interval-ms", type=int)
    return p.parse_args()


def bids(sdf):
    return sdf[sdf["type"] == "bid"]


def count_words(word, state):
    # State is scoped to the record key, so this is the count per (key, word).
    count = state.get(word, 0) + 1
    state.set(word, count)
    return {"word": word, "count": count}


def with_auction(result, key, timestamp, headers):
    # The first stage's key is the auction id (bytes): kept as a field before the re-key.
    return {**result, "auction": int(key)}


def by_window(result):
    return str(result["start"])


def hottest(c, state):
    best = state.get("hot")
    if best is None or c["value"] > best["count"]:
        best = {"start": c["start"], "end": c["end"], "auctions": [c["auction"]], "count": c["value"]}
    elif c["value"] == best["count"] and c["auction"] not in best["auctions"]:
        best["auctions"] = sorted(best["auctions"] + [c["auction"]])
    state.set("hot", best)
    return best


def highest(m, state):
    # A tie goes to the smaller auction id.
    top = state.get("top")
    if top is not None and (m["value"], -m["auction"]) <= (top["price"], -top["auction"]):
        return top
    top = {"start": m["start"], "end": m["end"], "price": m["value"], "auction": m["auction"]}
    state.set("top", top)
    return top


def is_local_seller(event):
    return event["type"] == "person" and event["state"] in ("OR", "ID", "CA")


def is_category_10(event):
    return event["type"] == "auction" and event["category"] == 10


def local_item(person, auction):
    return {"name": person["name"], "city": person["city"], "state": person["state"],
            "id": auction["id"]}


def window_start(ms):
    return ms - ms % 10_000


def new_user(person, auction):
    return {"id": person["id"], "name": person["name"], "auction": auction["auction"]}


def with_start(pair, key, timestamp, headers):
    # The pair's timestamp is its window's start (both sides were stamped with it).
    return {**pair, "start": timestamp}


# How long a join side keeps a key's older records behind its newest one: far more than the
# two sides' records can be out of order after their repartition hops (SPEC.md, "Joins").
JOIN_GRACE_MS = 300_000


def q3(sdf):
    # A regular (unwindowed) join: both sides re-keyed by the person's id (a str key, the same
    # bytes on both sides), stamped with one time (1 ms: librdkafka's producer reads 0 as
    # "now") and paired by an interval join of width 0, so a pair is made when the second of
    # the two arrives, whichever it is.
    persons = (
        sdf.filter(is_local_seller)
        .apply(lambda p: {"id": p["id"], "name": p["name"], "city": p["city"], "state": p["state"]})
        .set_timestamp(lambda value, key, timestamp, headers: 1)
        .group_by(lambda p: str(p["id"]), name="person")
    )
    auctions = (
        sdf.filter(is_category_10)
        .apply(lambda a: {"id": a["id"], "seller": a["seller"]})
        .set_timestamp(lambda value, key, timestamp, headers: 1)
        .group_by(lambda a: str(a["seller"]), name="seller")
    )
    return persons.join_interval(auctions, how="inner", on_merge=local_item,
                                 grace_ms=JOIN_GRACE_MS, name="q3")


def q8(sdf):
    # Both sides stamped with their 10 s window's start: an interval join of width 0 pairs
    # a person with the auctions of the same window, whichever arrives first.
    persons = (
        sdf[sdf["type"] == "person"]
        .apply(lambda p: {"id": p["id"], "name": p["name"]})
        .set_timestamp(lambda value, key, timestamp, headers: window_start(timestamp))
        .group_by(lambda p: str(p["id"]), name="person")
    )
    auctions = (
        sdf[sdf["type"] == "auction"]
        .apply(lambda a: {"auction": a["id"], "seller": a["seller"]})
        .set_timestamp(lambda value, key, timestamp, headers: window_start(timestamp))
        .group_by(lambda a: str(a["seller"]), name="seller")
    )
    pairs = persons.join_interval(auctions, how="inner", on_merge=new_user,
                                  grace_ms=JOIN_GRACE_MS, name="q8")
    return pairs.apply(with_start, metadata=True)


def build(workload, sdf):
    if workload == "q0":
        return sdf
    if workload == "q1":
        sdf = bids(sdf)
        sdf["price"] = sdf["price"] * 0.908
        return sdf
    if workload == "q2":
        # Two filters: persons and auctions have no "auction" field, and Quix
        # evaluates both sides of `&`.
        sdf = bids(sdf)
        sdf = sdf[sdf["auction"] % 123 == 0]
        return sdf[["auction", "price"]]
    # SPEC closes windows on the partition's stream time, not on the key's (Quix's default).
    # Quix stamps window results with the window start, as streamframe does.
    if workload in ("q5", "q5-like"):
        counts = (
            bids(sdf)
            .hopping_window(duration_ms=10_000, step_ms=2_000, grace_ms=0)
            .count()
            .final(closing_strategy="partition")
        )
        if workload == "q5-like":
            return counts
        # Hot items: re-keyed by window, the auction(s) with the most bids in it.
        return (
            counts.apply(with_auction, metadata=True)
            .group_by(by_window, name="window")
            .apply(hottest, stateful=True)
        )
    if workload in ("q7", "q7-like"):
        tops = (
            bids(sdf)
            .tumbling_window(duration_ms=10_000, grace_ms=0)
            .agg(value=Max("price"))
            .final(closing_strategy="partition")
        )
        if workload == "q7-like":
            return tops
        # Highest bid: re-keyed by window, the top price over all auctions.
        return (
            tops.apply(with_auction, metadata=True)
            .group_by(by_window, name="window")
            .apply(highest, stateful=True)
        )
    if workload == "q3":
        return q3(sdf)
    if workload == "q8":
        return q8(sdf)
    if workload == "wordcount":
        sdf = sdf.apply(lambda doc: doc["text"].split(" "), expand=True)
        return sdf.apply(count_words, stateful=True)
    if workload == "temperature":
        sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32
        return sdf[sdf["temperature_F"] > 150]
    raise ValueError(workload)


def main():
    args = parse_args()
    extra = {}
    if args.commit_interval_ms is not None:
        extra["commit_interval"] = args.commit_interval_ms / 1000.0
    app = Application(
        broker_address=args.brokers,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once" if args.guarantee == "eos" else "at-least-once",
        state_dir=args.state_dir,
        loglevel="WARNING",
        **extra,
    )
    # Keys stay raw bytes (Quix's default), so output keys are the input key bytes.
    # The driver has created both topics; Quix uses existing topics as they are.
    source = app.topic(args.input, value_deserializer="json", key_deserializer="bytes")
    # After a group_by the keys are str (the repartition topic's JSON keys): written as text.
    sink = app.topic(args.output, value_serializer="json",
                     key_serializer="string" if args.workload in TABLE_WORKLOADS + JOIN_WORKLOADS
                     else "bytes")
    build(args.workload, app.dataframe(source)).to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
