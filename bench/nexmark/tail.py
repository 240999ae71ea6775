#!/usr/bin/env python3
"""Where a latency run's tail comes from: the probe's timeline next to the broker's GC pauses
and the application's checkpoints, on one clock (seconds after the probe started).

  python3 bench/nexmark/tail.py PROBE.json [--gc-log F] [--app-log F] [--threshold-ms 30]

PROBE.json is the line `streamframe_bench_nexmark latency` prints (it has `start_ms` and
`timeline`). The GC log is the broker JVM's unified log with wall-clock decorations, e.g. turned
on for a running broker with
  jcmd PID VM.log output=/tmp/gc.log what=gc=info decorators=time
The application log is a streamframe program's stderr at DEBUG level (`run --loglevel DEBUG`),
whose checkpoint lines carry their times. Only the standard library is used.
"""
import argparse
import datetime as dt
import json
import re
import sys


def utc(text: str, fmt: str) -> float:
    return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc).timestamp()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("probe")
    p.add_argument("--gc-log")
    p.add_argument("--app-log")
    p.add_argument("--threshold-ms", type=float, default=30.0,
                   help="timeline slots and GC pauses at least this long are listed (default 30)")
    a = p.parse_args()
    with open(a.probe) as f:
        probe = json.loads(f.read().strip().splitlines()[-1])
    if "timeline" not in probe or "start_ms" not in probe:
        print("tail: the probe output has no timeline (made by an older streamframe_bench_nexmark)",
              file=sys.stderr)
        return 2
    start = probe["start_ms"] / 1000.0
    end = start + probe["seconds"]
    print(f"p50 {probe['p50_ms']} ms, p99 {probe['p99_ms']} ms, max {probe['max_ms']} ms "
          f"at {probe['input_rate']:,.0f} records/s")
    slow = [(s[0], s[2]) for s in probe["timeline"] if s[2] >= a.threshold_ms]
    print(f"100 ms slots whose slowest record took >= {a.threshold_ms:g} ms (s, ms): {slow}")
    if a.gc_log:
        pauses, total, count = [], 0.0, 0
        # G1/Parallel: "[2026-12-07T14:39:57.197+0000] GC(635) Pause Young ... 93.301ms"
        pattern = re.compile(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})[^\]]*\] GC\(\d+\) Pause .* ([0-9.]+)ms")
        with open(a.gc_log) as f:
            for line in f:
                m = pattern.match(line)
                if not m:
                    continue
                t = utc(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
                if start - 1 <= t <= end + 1:
                    ms = float(m.group(2))
                    total += ms
                    count += 1
                    if ms >= a.threshold_ms:
                        pauses.append((round(t - start, 2), ms))
        print(f"broker GC pauses in the run: {count}, {total:.0f} ms in all; those >= "
              f"{a.threshold_ms:g} ms, logged at their end (s, ms): {pauses}")
    if a.app_log:
        checkpoints = []
        pattern = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \[DEBUG\] \[streamframe\] : "
                             r"checkpoint: .*?([0-9.]+) ms")
        with open(a.app_log) as f:
            for line in f:
                m = pattern.match(line)
                if m:
                    t = utc(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
                    if start - 1 <= t <= end + 1:
                        checkpoints.append((round(t - start, 2), float(m.group(2))))
        print(f"checkpoints, logged at their end (s, ms): {checkpoints}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
