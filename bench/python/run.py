"""The Python API against Quix Streams on Nexmark workloads (issue 16 item 7).

The Quix Streams peer of the nexmark suite (bench/peers/quix/nexmark_quix.py) runs twice on
the same input topic: as written, and with ``quixstreams`` replaced by ``streamframe`` in its
source. So streamframe runs exactly Quix's program: expressions where Quix uses expressions
(q1, q2, temperature, and the filters and windows of q5-like / q7-like), a Python callable per
record where Quix uses one (wordcount, q3, q5, q7, q8). A third system is the same workload
written in C++ (streamframe_bench_nexmark run): the Python API's cost over the engine's own.

Throughput = input records / seconds from the first output to the last, both seen from
outside on the output topic's high watermarks (so start-up, group join and topic creation
are not in it). The two systems' output counts must be equal. Runs alternate (quix,
streamframe, quix, ...) on one broker; the report is the median per system and the ratio.

    build/python-venv/bin/python bench/python/run.py --brokers HOST:PORT --records 1000000
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / "bench/peers/quix/nexmark_quix.py"
EXPRESSIONS = ("q1", "q2", "q5-like", "q7-like", "temperature")
CALLABLES = ("wordcount", "q5", "q7", "q3", "q8")
KIND = {"wordcount": "words", "temperature": "temperature"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--brokers", required=True)
    p.add_argument("--workloads", default=",".join(EXPRESSIONS + CALLABLES))
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=1, help="runs per system and workload")
    p.add_argument("--generator", type=Path,
                   default=ROOT / "build-bench/bench/streamframe_bench_nexmark",
                   help="streamframe_bench_nexmark: makes the input, and is the C++ system")
    p.add_argument("--quiet-seconds", type=float, default=5.0,
                   help="the output is complete once it has not grown for this long")
    p.add_argument("--timeout", type=float, default=900.0, help="per run")
    p.add_argument("--results-file", default=str(ROOT / "bench/results/python.jsonl"))
    return p.parse_args()


def generate(args, kind, topic):
    subprocess.run([str(args.generator), "generate", "--brokers", args.brokers, "--kind", kind,
                    "--topic", topic, "--records", str(args.records)], check=True,
                   stdout=subprocess.DEVNULL)


def watermark_sum(consumer, topic, partitions):
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in partitions)


def run_once(args, system, workload, source, work_dir):
    label = system.replace("+", "p")  # topic and group names allow no "+"
    out = f"pyb-out-{workload}-{label}-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": args.brokers})
    admin.create_topics([NewTopic(out, num_partitions=4, replication_factor=1)])[out].result(30)
    group = f"pyb-{workload}-{label}-{uuid.uuid4().hex[:6]}"
    if system == "c++":
        command = [str(args.generator), "run"]
    else:
        script = work_dir / f"peer_{system}.py"
        text = PEER.read_text()
        script.write_text(text if system == "quix" else text.replace("quixstreams", "streamframe"))
        command = [sys.executable, str(script)]
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": "pyb-watch"})
    started = time.monotonic()
    proc = subprocess.Popen(
        [*command, "--brokers", args.brokers, "--workload", workload, "--input", source,
         "--output", out, "--group", group, "--state-dir", str(work_dir / group)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = last = None
    count = 0
    try:
        while time.monotonic() - started < args.timeout:
            time.sleep(0.05)
            now = time.monotonic()
            n = watermark_sum(consumer, out, range(4))
            if n > count:
                count = n
                last = now
                first = first or now
            if proc.poll() is not None:
                raise RuntimeError(f"{system} {workload} exited: {proc.stderr.read()[-2000:]}")
            if last is not None and now - last > args.quiet_seconds:
                break
        else:
            raise RuntimeError(f"{system} {workload}: no end within {args.timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        consumer.close()
        admin.delete_topics([out])
    seconds = last - first
    return {"outputs": count, "seconds": seconds,
            "records_per_s": args.records / seconds if seconds > 0 else None}


def main():
    args = parse_args()
    workloads = args.workloads.split(",")
    results = []
    with tempfile.TemporaryDirectory(prefix="pyb-") as tmp:
        work_dir = Path(tmp)
        sources = {}
        for workload in workloads:
            kind = KIND.get(workload, "nexmark")
            if kind not in sources:
                sources[kind] = f"pyb-in-{kind}-{uuid.uuid4().hex[:6]}"
                generate(args, kind, sources[kind])
            runs = {"quix": [], "streamframe": [], "c++": []}
            for _ in range(args.runs):
                for system in runs:
                    r = run_once(args, system, workload, sources[kind], work_dir)
                    runs[system].append(r)
                    print(f"{workload:12} {system:12} {r['outputs']:>9} outputs "
                          f"{r['seconds']:8.2f} s {r['records_per_s'] or 0:>12,.0f} records/s",
                          flush=True)
            outputs = {s: {r["outputs"] for r in rs} for s, rs in runs.items()}
            if len(set().union(*outputs.values())) != 1:
                raise SystemExit(f"{workload}: output counts differ: {outputs}")
            med = {s: statistics.median(r["records_per_s"] for r in rs) for s, rs in runs.items()}
            line = {"bench": "python", "workload": workload,
                    "kind": "expressions" if workload in EXPRESSIONS else "callables",
                    "records": args.records, "outputs": runs["quix"][0]["outputs"],
                    "quix_records_per_s": round(med["quix"]),
                    "streamframe_python_records_per_s": round(med["streamframe"]),
                    "streamframe_cpp_records_per_s": round(med["c++"]),
                    "ratio": round(med["streamframe"] / med["quix"], 2),
                    "python_vs_cpp": round(med["streamframe"] / med["c++"], 2),
                    "runs": runs}
            results.append(line)
            print(f"{workload:12} streamframe (Python) / Quix Streams = {line['ratio']:.2f}, "
                  f"Python / C++ = {line['python_vs_cpp']:.2f}", flush=True)
    if args.results_file:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        with open(args.results_file, "a") as f:
            for line in results:
                f.write(json.dumps({"commit": commit, "date": time.strftime("%Y-%m-%d"),
                                    **line}) + "\n")


if __name__ == "__main__":
    main()
