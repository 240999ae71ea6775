"""Differential tests against Quix Streams (issue 16 item 5).

Each program in differential/ is a small Quix Streams program. It runs twice on the same input
topic of a real broker: once as written (with ``quixstreams``, pinned in
scripts/python-package), once with ``quixstreams`` replaced by ``streamframe`` in its source and
nothing else changed. Both print what ``app.run(timeout=..., metadata=True)`` returned; the two
lists must be equal record by record (values, keys, timestamps, input partition and offset; in
order per input partition). Known differences are listed in DIFFERENCES with the normalisation
that removes them, and in docs/python.md.
"""

import importlib.util
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

PROGRAMS = sorted((Path(__file__).parent / "differential").glob("p*.py"))
IDLE_TIMEOUT = "3.0"
INPUT_RECORDS = 240  # in each input topic; a join program counts them

# program stem -> (why its outputs differ, the relative tolerance its floats are compared with).
DIFFERENCES = {
    "p15_hopping_mean_final": (
        "streamframe adds a hopping window up per step and merges the steps, Quix Streams adds "
        "every record to every window it falls in: a float sum may differ in its last digit",
        1e-12,
    ),
}


@pytest.fixture(scope="module")
def quixstreams(brokers):
    # Only looked for: the programs import it in their own processes.
    if importlib.util.find_spec("quixstreams") is None:
        if os.environ.get("STREAMFRAME_PYTEST_REQUIRE_BROKER") == "1":
            pytest.fail("quixstreams is not installed (scripts/python-package installs it)")
        pytest.skip("quixstreams is not installed")
    return brokers


def make_records(n=INPUT_RECORDS, seed=7):
    """Deterministic input: 4 keys over 2 partitions, timestamps 250 ms apart (a few late)."""
    rng = random.Random(seed)
    names = ["a", "b", "c", "d"]
    records = []
    for i in range(n):
        ts = 1_700_000_000_000 + i * 250 - (700 if i % 17 == 0 else 0)
        value = {
            "i": i,
            "x": round(rng.uniform(-10, 60), 2),
            "neg": -(i % 7),
            "name": names[rng.randrange(4)],
            "tags": ["x", "y"] if i % 3 == 0 else ["y"],
            "nested": {"a": {"b": i * 10}},
            "maybe": None if i % 4 == 0 else i,
        }
        records.append((f"k{i % 4}".encode(), json.dumps(value).encode(), ts))
    return records


@pytest.fixture(scope="module")
def input_topics(quixstreams):
    """The same records in a topic of two partitions (INPUT) and of one (INPUT_ONE_PARTITION)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    run = uuid.uuid4().hex[:8]
    names = {"INPUT": (f"py-diff-in-{run}", 2), "INPUT_ONE_PARTITION": (f"py-diff-in1-{run}", 1)}
    admin = AdminClient({"bootstrap.servers": quixstreams})
    new = [NewTopic(name, num_partitions=p, replication_factor=1) for name, p in names.values()]
    for future in admin.create_topics(new).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": quixstreams, "partitioner": "murmur2"})
    for name, _ in names.values():
        for key, value, ts in make_records():
            producer.produce(name, value=value, key=key, timestamp=ts)
    assert producer.flush(30) == 0
    return {variable: name for variable, (name, _) in names.items()}


def run_program(source, brokers, topics, tmp_path, label):
    group = f"py-diff-{label}-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, BROKER=brokers, GROUP=group, STATE_DIR=str(tmp_path / group),
               IDLE_TIMEOUT=IDLE_TIMEOUT, INPUT_RECORDS=str(INPUT_RECORDS), **topics)
    proc = subprocess.run([sys.executable, "-c", source], env=env, capture_output=True,
                          text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("OUTPUTS ")]
    assert proc.returncode == 0 and lines, f"{label} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return normalized(json.loads(lines[-1][len("OUTPUTS "):]), group)


def normalized(outputs, group):
    out = []
    for o in outputs:
        o = dict(o)
        # Topics named after the consumer group (a group_by's repartition topic, a topic the
        # program creates) differ between the two runs by the group alone.
        if isinstance(o.get("_topic"), str):
            o["_topic"] = o["_topic"].replace(group, "<group>")
        if not o.get("_headers"):
            o["_headers"] = None
        out.append(o)
    # Stable: the order within one input partition (and one input record) is kept.
    return sorted(out, key=lambda o: (o.get("_topic") or "", o.get("_partition", -1),
                                      o.get("_offset", -1)))


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_streamframe_matches_quix_streams(program, quixstreams, input_topics, tmp_path):
    source = program.read_text()
    assert "quixstreams" in source
    quix = run_program(source, quixstreams, input_topics, tmp_path, "quix")
    ours = run_program(source.replace("quixstreams", "streamframe"), quixstreams, input_topics,
                       tmp_path, "streamframe")
    assert quix, "the Quix Streams run produced nothing: the program tests nothing"
    assert len(ours) == len(quix)
    tolerance = DIFFERENCES.get(program.stem, (None, 0.0))[1]
    for index, (q, s) in enumerate(zip(quix, ours)):
        if tolerance:
            assert s == approx_floats(q, tolerance), f"output {index} differs"
        else:
            assert s == q, f"output {index} differs"


def approx_floats(value, rel):
    """`value` with its floats (at any depth) compared to a relative tolerance."""
    if isinstance(value, float):
        return pytest.approx(value, rel=rel)
    if isinstance(value, dict):
        return {k: approx_floats(v, rel) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_floats(v, rel) for v in value]
    return value
