"""Real-time ML features and scoring: the pipeline a data scientist prototypes and then runs in
production, unchanged.

Transactions of 60 users stream in (a few users turn fraudulent: bursts of large payments).
Per user, streamframe keeps rolling features natively:

- over a sliding 60 s window: the count, mean and standard deviation of the amounts;
- over a hopping 10 min window (1 min steps): the count;
- from State: the seconds since the user's previous transaction.

Each transaction is then scored by a logistic regression (scikit-learn) trained at start-up on
generated data with the same features, and the score goes to the topic ``transaction-scores``.
Only the feature assembly and the model call are Python; windows, state, joins and Kafka I/O
run in the engine.

    python examples/python/ml_features.py                        # 15 s on the embedded broker
    STREAMFRAME_BROKER_ADDRESS=localhost:9092 python examples/python/ml_features.py --broker ""

Needs numpy and scikit-learn (pip install numpy scikit-learn).
"""

import argparse
import json
import math
import random
import threading
import time
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression

from streamframe import Application
from streamframe.dataframe.windows import Count, Latest, Mean, Reduce
from streamframe.models import TopicConfig

FEATURES = ["n_1m", "mean_1m", "std_1m", "n_10m", "since_last_s"]


def std_of(acc):
    n, total, squares = acc["n"], acc["sum"], acc["sq"]
    if n < 2:
        return 0.0
    return math.sqrt(max(0.0, (squares - total * total / n) / (n - 1)))


def training_data(rng, rate, fraudsters, n=4000):
    """Labelled feature rows shaped like the stream's (see generate() in main): a normal user
    pays about rate/60 times a second, 5-120 each; a fraudster, once it turns, makes about
    0.3 * rate / fraudsters payments a second of 300-900."""
    normal_rate = rate / 60
    fraud_rate = 0.3 * rate / max(fraudsters, 1)
    rows, labels = [], []
    for _ in range(n):
        fraud = rng.random() < 0.3
        if fraud:
            n_1m = 60 * fraud_rate * rng.uniform(0.05, 1.0) + 1
            mean = rng.uniform(150, 800)
            gap = rng.expovariate(fraud_rate)
        else:
            n_1m = 60 * normal_rate * rng.uniform(0.02, 1.2) + 1
            mean = rng.uniform(30, 95)
            gap = rng.expovariate(normal_rate)
        rows.append([n_1m, mean, mean * rng.uniform(0.1, 0.9), n_1m * rng.uniform(1, 3), gap])
        labels.append(int(fraud))
    return np.array(rows), np.array(labels)


def train(rate, fraudsters, seed=1):
    x, y = training_data(random.Random(seed), rate, fraudsters)
    model = LogisticRegression(max_iter=1000)
    model.fit(np.log1p(x), y)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="embedded",
                        help='broker address, "embedded", or "" for STREAMFRAME_BROKER_ADDRESS')
    parser.add_argument("--duration", type=float, default=15.0, help="seconds to run")
    parser.add_argument("--rate", type=float, default=120.0, help="transactions per second")
    parser.add_argument("--fraudsters", type=int, default=3, help="users that turn fraudulent")
    parser.add_argument("--prefix", default="", help="prefix of the topic and group names")
    args = parser.parse_args()

    model = train(args.rate, args.fraudsters)

    app = Application(args.broker or None, consumer_group=f"{args.prefix}ml-features",
                      auto_offset_reset="earliest", commit_interval=1.0)
    transactions = app.topic(f"{args.prefix}transactions", config=TopicConfig(2, 1))
    scores = app.topic(f"{args.prefix}transaction-scores", config=TopicConfig(2, 1))

    def since_last(value, key, timestamp, headers, state):
        last = state.get("last_ts")
        state.set("last_ts", timestamp)
        value["since_last_s"] = (timestamp - last) / 1000 if last is not None else 60.0
        return value

    sdf = app.dataframe(transactions).apply(since_last, stateful=True, metadata=True)

    short = sdf.sliding_window(duration_ms=60_000).agg(
        n_1m=Count(),
        mean_1m=Mean("amount"),
        moments=Reduce(
            reducer=lambda acc, v: {"n": acc["n"] + 1, "sum": acc["sum"] + v["amount"],
                                    "sq": acc["sq"] + v["amount"] ** 2},
            initializer=lambda v: {"n": 1, "sum": v["amount"], "sq": v["amount"] ** 2},
        ),
        since_last_s=Latest("since_last_s"),
        amount=Latest("amount"),
    ).current()
    long = sdf.hopping_window(duration_ms=600_000, step_ms=60_000).agg(n_10m=Count()).current()

    features = short.join_asof(long, how="left",
                               on_merge=lambda s, l: {**s, "n_10m": l["n_10m"] if l else s["n_1m"]})

    def score(value, key, timestamp, headers):
        row = [value["n_1m"], value["mean_1m"], std_of(value["moments"]), value["n_10m"],
               value["since_last_s"]]
        p = float(model.predict_proba(np.log1p(np.array([row])))[0, 1])
        return {"user": key.decode(), "amount": value["amount"], "score": round(p, 4),
                **dict(zip(FEATURES, row))}

    scored = features.apply(score, metadata=True)
    scored.to_topic(scores)

    summary = defaultdict(list)
    scored.update(lambda v: summary[v["user"]].append(v["score"]))

    produced = 0
    fraudsters = {f"user-{i}" for i in range(args.fraudsters)}
    generating = threading.Event()
    generating.set()

    def generate():
        nonlocal produced
        rng = random.Random(7)
        start = time.monotonic()
        with app.get_producer() as producer:
            while generating.is_set():
                elapsed = time.monotonic() - start
                # Fraudsters behave normally for the first third of the run.
                if fraudsters and elapsed > args.duration / 3 and rng.random() < 0.3:
                    user = rng.choice(sorted(fraudsters))
                    amount = rng.uniform(300, 900)
                else:
                    user = f"user-{rng.randrange(args.fraudsters, 60)}"
                    amount = rng.uniform(5, 120)
                payment = {"amount": round(amount, 2), "merchant": f"m{rng.randrange(40)}"}
                producer.produce(transactions.name, value=json.dumps(payment), key=user)
                produced += 1
                time.sleep(max(0.0, start + produced / args.rate - time.monotonic()))

    generator = threading.Thread(target=generate)
    generator.start()
    threading.Timer(args.duration, app.stop).start()
    try:
        app.run()
    finally:
        generating.clear()
        generator.join()

    def mean_of(users, last=20):
        values = [s for u in users for s in summary[u][-last:]]
        return sum(values) / len(values) if values else float("nan")

    normal = [u for u in summary if u not in fraudsters]
    print(f"{produced} transactions, {sum(len(v) for v in summary.values())} scored")
    print(f"mean score of the last 20 per user: fraudsters {mean_of(fraudsters):.3f}, "
          f"others {mean_of(normal):.3f}")


if __name__ == "__main__":
    main()
