"""A custom Source (run() with serialize() and produce(), explicit keys, timestamps and headers)
producing to its default topic, "source__<name>", read by a dataframe: Quix Streams runs the
source in a subprocess, streamframe in a thread. The source's name carries the consumer group,
so each run has a topic of its own (the comparison takes the group out of topic names).

Quix Streams starts the subprocess with multiprocessing's "spawn", which imports the source's
class by module name; the harness runs programs with `python -c`, whose __main__ a child cannot
import. So the class is written to a module of its own (its text is part of this program's, so
the harness's import change reaches it too)."""
import json
import os
import sys

from quixstreams import Application

SOURCE_MODULE = '''
from quixstreams.sources import Source

RECORDS = 60


class Readings(Source):
    def run(self):
        for i in range(RECORDS):
            if not self.running:
                return
            message = self.serialize(
                key=f"sensor-{i % 3}",
                value={"i": i, "celsius": round(18.5 + (i * 7 % 13) * 0.5, 1)},
                timestamp_ms=1_700_000_000_000 + i * 1000,
            )
            self.produce(key=message.key, value=message.value, timestamp=message.timestamp,
                         headers=[("seq", str(i).encode())])
'''
os.makedirs(os.environ["STATE_DIR"], exist_ok=True)
with open(os.path.join(os.environ["STATE_DIR"], "p28_readings.py"), "w") as f:
    f.write(SOURCE_MODULE)
sys.path.insert(0, os.environ["STATE_DIR"])
from p28_readings import RECORDS, Readings  # noqa: E402

app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
)
sdf = app.dataframe(source=Readings(name="readings-" + os.environ["GROUP"]))
sdf["fahrenheit"] = sdf["celsius"] * 9 / 5 + 32
sdf = sdf[sdf["i"] % 4 != 1]
expected = len([i for i in range(RECORDS) if i % 4 != 1])
outputs = app.run(count=expected, timeout=60, metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
