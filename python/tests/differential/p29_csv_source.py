"""CSVSource (SRC-05) feeding a dataframe: the same CSV file read by Quix Streams' CSVSource
(Python's csv.DictReader in a subprocess) and by streamframe's (libcsv in the engine), with a
key_extractor and a timestamp_extractor, so keys, timestamps and values (rows as dicts of str)
compare exactly. The file has quoted fields with the delimiter, doubled quotes, a line break and
an empty field, and non-ASCII text.

As in p28, the extractors live in a module of their own: Quix Streams' subprocess imports them
by name. The source's name carries the consumer group, so each run has a topic of its own."""
import json
import os
import sys

from quixstreams import Application

EXTRACTORS = '''
def key_of(row):
    return "station-" + row["station"]


def timestamp_of(row):
    return 1_700_000_000_000 + int(row["seconds"]) * 1000
'''
ROWS = 40
os.makedirs(os.environ["STATE_DIR"], exist_ok=True)
with open(os.path.join(os.environ["STATE_DIR"], "p29_extractors.py"), "w") as f:
    f.write(EXTRACTORS)
sys.path.insert(0, os.environ["STATE_DIR"])
from p29_extractors import key_of, timestamp_of  # noqa: E402

from quixstreams.sources import CSVSource  # noqa: E402

NOTES = ['calm', 'gusty, then calm', 'said "hold"', '', 'two\nlines', 'Zürich ☀']
path = os.path.join(os.environ["STATE_DIR"], "readings.csv")
with open(path, "w", newline="") as f:
    f.write("station,seconds,celsius,note\n")
    for i in range(ROWS):
        note = NOTES[i % len(NOTES)]
        if any(c in note for c in ',"\n'):
            note = '"' + note.replace('"', '""') + '"'
        f.write(f"{i % 3},{i * 7},{18.5 + (i * 7 % 13) * 0.5},{note}\n")

app = Application(
    os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    state_dir=os.environ["STATE_DIR"],
    loglevel="ERROR",
)
source = CSVSource(path, name="readings-" + os.environ["GROUP"], key_extractor=key_of,
                   timestamp_extractor=timestamp_of)
sdf = app.dataframe(source=source)
sdf["warm"] = sdf["celsius"].apply(float) > 20
outputs = app.run(count=ROWS, timeout=60, metadata=True)
print("OUTPUTS " + json.dumps(outputs, default=lambda b: b.decode()))
