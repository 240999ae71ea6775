"""Quix Streams peer of the Nexmark benchmark suite (contract: bench/nexmark/SPEC.md).

Runs one workload with the Quix Streams DataFrame API until SIGTERM/SIGINT; Quix installs
the signal handlers itself, finishes the current checkpoint and `app.run()` returns.
"""

import argparse

from quixstreams import Application
from quixstreams.dataframe.windows import Max

WORKLOADS = ("q0", "q1", "q2", "q5", "q7", "wordcount", "temperature")


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
    if workload == "q5":
        return (
            bids(sdf)
            .hopping_window(duration_ms=10_000, step_ms=2_000, grace_ms=0)
            .count()
            .final(closing_strategy="partition")
        )
    if workload == "q7":
        return (
            bids(sdf)
            .tumbling_window(duration_ms=10_000, grace_ms=0)
            .agg(value=Max("price"))
            .final(closing_strategy="partition")
        )
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
    sink = app.topic(args.output, value_serializer="json", key_serializer="bytes")
    build(args.workload, app.dataframe(source)).to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
