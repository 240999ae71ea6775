"""Temperature alerts, the README pipeline in Python: readings in Celsius from 20 sensors,
alerts for those above 150 °F. Runs on the embedded broker by default (no Kafka needed):

    python examples/python/quickstart.py                       # 10 s on the embedded broker
    python examples/python/quickstart.py --broker localhost:9092 --duration 30

The pipeline is five lines of Quix Streams code; only the import differs.
"""

import argparse
import json
import random
import threading
import time

from streamframe import Application
from streamframe.models import TopicConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="embedded", help='broker address, or "embedded"')
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    parser.add_argument("--rate", type=float, default=2000.0, help="readings per second")
    parser.add_argument("--quiet", action="store_true", help="do not print each alert")
    args = parser.parse_args()

    app = Application(args.broker, consumer_group="quickstart-py", auto_offset_reset="earliest",
                      commit_interval=1.0)
    readings = app.topic("temperature-celsius", config=TopicConfig(4, 1))
    alerts = app.topic("temperature-alerts", config=TopicConfig(4, 1))

    sdf = app.dataframe(readings)
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32
    sdf = sdf[sdf["temperature_F"] > 150]
    alert_count = 0

    def show(alert):
        nonlocal alert_count
        alert_count += 1
        if not args.quiet:
            print(f"ALERT {alert['sensor']}: {alert['temperature_F']:.1f} °F")

    sdf.update(show)
    sdf.to_topic(alerts)

    produced = 0
    generating = threading.Event()
    generating.set()

    def generate():
        nonlocal produced
        rng = random.Random(42)
        start = time.monotonic()
        with app.get_producer() as producer:
            while generating.is_set():
                sensor = f"sensor-{produced % 20}"
                hot = rng.randrange(100) < 2
                celsius = rng.uniform(66, 90) if hot else rng.gauss(21, 4)
                reading = {"sensor": sensor, "temperature": round(celsius, 1), "seq": produced}
                producer.produce(readings.name, value=json.dumps(reading), key=sensor)
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
    print(f"{produced} readings, {alert_count} alerts")


if __name__ == "__main__":
    main()
