#!/usr/bin/env python3
"""Runs the Nexmark peer suite: streamframe, Kafka Streams and Quix Streams on the same input
topics of one broker (the contract is bench/nexmark/SPEC.md; bench/README.md, "Peers
(Nexmark)", explains how it measures). Writes bench/results/<date>-<commit>.{json,md,png}.

Usually started by `scripts/bench --suite nexmark`, which builds everything, prepares the venv
and starts a broker. `driver.py --report-only FILE.json` re-renders a report from its results.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("STREAMFRAME_BENCH_BUILD_DIR") or ROOT / "build-bench")

# Records per input topic. The "big" topic feeds streamframe (C++ and Python), the ceiling and
# engine-only, the "medium" one Kafka Streams and the "small" one Quix Streams, which are 3-30x
# slower, so that each of their measurements still lasts about 10 s or more in full mode without
# the suite taking hours. The Python API runs its expression workloads at 0.9-1.0 of the C++
# program's rate: on the medium topic its runs lasted 2-4 s, too short to leave start-up and the
# first fetches out of the rate. The generator is deterministic
# (event n is the same in every topic), so a small topic is a prefix of the big one.
# "runs" is the default of --runs (3 in both: the report takes the median). Quick is sized so
# that the whole suite, 3 runs each, fits in 5 minutes on 2 cores: its measurements are short
# (0.2-5 s) and tell only whether everything works and agrees; full is the one to quote.
PROFILES = {
    "quick": {
        "records": {
            "nexmark": {"big": 100_000, "medium": 100_000, "small": 100_000},
            "words": {"big": 50_000, "medium": 50_000, "small": 50_000},
            "temperature": {"big": 100_000, "medium": 100_000, "small": 100_000},
        },
        "latency_s": 2,
        "latency_runs": 1,
        "runs": 3,
        "check_every_run": True,
        "instructions_records": 20_000,
    },
    "full": {
        "records": {
            "nexmark": {"big": 15_000_000, "medium": 2_500_000, "small": 1_500_000},
            "words": {"big": 2_000_000, "medium": 200_000, "small": 200_000},
            "temperature": {"big": 10_000_000, "medium": 3_000_000, "small": 1_500_000},
        },
        "latency_s": 20,
        "latency_runs": 2,
        "runs": 3,
        "check_every_run": False,
        "instructions_records": 100_000,
    },
}

WORKLOAD_KIND = {
    "q0": "nexmark", "q1": "nexmark", "q2": "nexmark", "q3": "nexmark", "q5": "nexmark",
    "q5-like": "nexmark", "q7": "nexmark", "q7-like": "nexmark", "q8": "nexmark",
    "wordcount": "words", "temperature": "temperature",
}
# Workloads whose output is a table (SPEC.md): one update per record of their second stage, in
# an order that depends on how partitions interleave; only each key's last update is compared.
TABLE_WORKLOADS = {"q5", "q7"}
WINDOWED_WORKLOADS = {"q5", "q5-like", "q7", "q7-like"}
# "python": the Quix peer's own program with its import changed to streamframe's Python API
# (issue 16): expressions where Quix uses expressions, a Python callable where Quix uses one.
PEERS = ["streamframe", "python", "kafka-streams", "quix"]
# Column order of the tables and bars of the chart.
COLUMNS = ["ceiling", "streamframe", "engine", "python", "kafka-streams", "quix"]
LABEL = {
    "ceiling": "ceiling", "streamframe": "streamframe", "engine": "streamframe engine-only",
    "python": "streamframe (Python)", "kafka-streams": "Kafka Streams", "quix": "Quix Streams",
}
SIZE_OF = {"ceiling": "big", "streamframe": "big", "engine": "big", "python": "big", "kafka-streams": "medium",
           "quix": "small"}
COLOR = {
    "ceiling": "#9e9e9e", "streamframe": "#1f77b4", "engine": "#aec7e8",
    "python": "#ff7f0e", "kafka-streams": "#d62728", "quix": "#2ca02c",
}
# Only for the first run's timeout (max(60 s, 20x the expected duration)); later runs of the
# same system and workload use the duration measured before.
NOMINAL_RATE = {"ceiling": 1_000_000, "streamframe": 300_000, "python": 100_000, "kafka-streams": 30_000,
                "quix": 10_000}

# Kafka Streams forwards windowed aggregates from its record cache only when it commits (every
# 30 s at-least-once by default), so with the default the final windows of the q5/q7 family reach
# suppress() and the output topic up to 30 s after the last input: the run would measure the
# commit interval. Its windowed runs commit every 100 ms (its exactly-once default); every other
# run uses each system's defaults.
KS_WINDOW_COMMIT_MS = 100


def throughput_commit_ms(system: str, workload: str) -> int | None:
    if system == "kafka-streams" and workload in WINDOWED_WORKLOADS:
        return KS_WINDOW_COMMIT_MS
    return None


T0_TIMEOUT_S = 60
STOP_GRACE_S = 30
# The read-back parses every output (about 400k records/s here): 30 s plus 1 s per 100k outputs
# (a full q0 check reads 15 M records, 3 GB).
DIGEST_TIMEOUT_S = 30
DIGEST_RECORDS_PER_S = 100_000
LATENCY_DRAIN_S = 10
# The latency step's input rates, each a share of a q1 maximum (the median q1 records/s of this
# suite's throughput step). A system is probed once per distinct rate; a rate that serves two
# points (streamframe's own 50 % is also "50 % of streamframe's") is one row naming both.
LATENCY_POINTS = {
    "streamframe-50": "50 % of streamframe's q1 maximum",
    "own-50": "50 % of the system's own q1 maximum",
    "own-10": "10 % of the system's own q1 maximum",
    "common": "50 % of the slowest system's q1 maximum: a rate every system sustains",
    "fixed": "--latency-rate",
}
# A run during which processes other than the program, the broker and the driver used more than
# this share of the machine is marked noisy (the machine is shared).
NOISY_SHARE = 0.05


def log(msg: str) -> None:
    print(f"nexmark: {msg}", file=sys.stderr, flush=True)


def rel(path: Path | str) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


# ---------------------------------------------------------------------------------------------
# Provenance


def run_text(argv: list[str], **kw) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    return (r.stdout + r.stderr).strip()


def pom_version(pom: Path, artifact: str | None = None, prop: str | None = None) -> str | None:
    """The version of a dependency (or a property) in a Maven pom, ${...} resolved."""
    if not pom.exists():
        return None
    tree = ET.parse(pom)
    ns = {"m": tree.getroot().tag.split("}")[0].strip("{")} if tree.getroot().tag.startswith("{") else {}
    q = (lambda t: f"m:{t}") if ns else (lambda t: t)
    props = {}
    for node in tree.getroot().findall(q("properties"), ns):
        for p in node:
            props[p.tag.split("}")[-1]] = (p.text or "").strip()
    if prop is not None:
        return props.get(prop)
    for dep in tree.getroot().iter(f"{{{ns['m']}}}dependency" if ns else "dependency"):
        if dep.findtext(q("artifactId"), namespaces=ns) == artifact:
            v = dep.findtext(q("version"), namespaces=ns) or ""
            return re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), v.strip())
    return None


def machine_info() -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "mem_gb": mem_gb,
        "kernel": os.uname().release, "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def provenance(args) -> dict:
    git = lambda *a: run_text(["git", "-C", str(ROOT), *a])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip() != ""
    versions: dict = {}
    try:
        versions.update(json.loads(run_text([args.bench_bin, "version"]).splitlines()[-1]))
    except (ValueError, IndexError):
        versions["streamframe"] = None
    versions["kafka_streams"] = pom_version(ROOT / "bench/peers/kafka-streams/pom.xml", artifact="kafka-streams")
    versions["broker"] = pom_version(ROOT / "scripts/kafka-pom/pom.xml", prop="kafka.version")
    probe = ("import importlib.metadata as m, json, sys\n"
             "v = {}\n"
             "for p in ('quixstreams', 'confluent-kafka'):\n"
             "    try: v[p] = m.version(p)\n"
             "    except m.PackageNotFoundError: v[p] = None\n"
             "v['python'] = sys.version.split()[0]\n"
             "print(json.dumps(v))")
    try:
        peer = json.loads(run_text([args.venv_python, "-c", probe]).splitlines()[-1])
    except (ValueError, IndexError):
        peer = {}
    versions["quixstreams"] = peer.get("quixstreams")
    versions["confluent_kafka"] = peer.get("confluent-kafka")
    versions["quix_python"] = peer.get("python")
    versions["java"] = run_text(["java", "-version"]).splitlines()[0] if shutil.which("java") else None
    versions["python"] = sys.version.split()[0]
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "commit_full": git("rev-parse", "HEAD"),
        "dirty": dirty,
        "machine": machine_info(),
        "versions": versions,
        "brokers": args.brokers,
    }


# ---------------------------------------------------------------------------------------------
# CPU accounting: whether somebody else used the machine during a measurement


CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    f = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def proc_cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def group_pids(pgid: int):
    """The live processes of a process group (a run script and the JVM it starts)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                yield d
        except (OSError, ValueError, IndexError):
            continue


def group_cpu_s(pgid: int) -> float:
    """CPU of every live process in a process group."""
    total = 0.0
    for d in group_pids(pgid):
        try:
            f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / CLK_TCK
    return total


def group_peak_rss_mib(pgid: int) -> float:
    """Peak resident memory of a process group: the sum of each live process's high-water mark
    (VmHWM), read just before the group is stopped (a run script's is a few MiB; the JVM's or
    the program's is the figure)."""
    total_kib = 0
    for d in group_pids(pgid):
        try:
            for line in Path(f"/proc/{d}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return round(total_kib / 1024, 1)


class CpuMeter:
    def __init__(self, pgid: int | None, broker_pid: int | None):
        self.pgid, self.broker_pid = pgid, broker_pid
        self.start = self._sample()

    def _sample(self) -> tuple:
        t = os.times()
        return (machine_busy_s(), group_cpu_s(self.pgid) if self.pgid else 0.0,
                proc_cpu_s(self.broker_pid) if self.broker_pid else 0.0, t.user + t.system)

    def stop(self, wall_s: float) -> dict:
        end = self._sample()
        machine, program, broker, driver = (b - a for a, b in zip(self.start, end))
        others = machine - program - broker - driver if self.broker_pid else None
        out = {"wall_s": round(wall_s, 3), "machine_busy_s": round(machine, 2), "program_s": round(program, 2),
               "driver_s": round(driver, 2)}
        if self.broker_pid:
            out["broker_s"] = round(broker, 2)
            out["others_s"] = round(others, 2)
            out["noisy"] = others > NOISY_SHARE * (os.cpu_count() or 1) * wall_s
        return out


# ---------------------------------------------------------------------------------------------
# Kafka


class Cluster:
    def __init__(self, brokers: str):
        from confluent_kafka.admin import AdminClient

        self.brokers = brokers
        self.admin = AdminClient({"bootstrap.servers": brokers})

    def create_topic(self, name: str, partitions: int) -> None:
        from confluent_kafka.admin import NewTopic

        # No time retention: the records carry Nexmark event times in early 2026, and the
        # broker's 7-day retention would delete a topic's segments under a running measurement.
        self.admin.create_topics([NewTopic(name, partitions, 1, config={"retention.ms": "-1"})])[name].result(30)
        # A fresh topic's leaders may not answer for a moment (NOT_LEADER): a program started
        # now would see a short stall, and the watermark watch an error.
        start = time.monotonic()
        while True:
            try:
                self.end_offsets(name, partitions)
                return
            except Exception as e:
                if time.monotonic() - start > 30:
                    raise RuntimeError(f"topic {name}: no partition leaders 30 s after its creation ({e})")
                time.sleep(0.05)
                # a stale cached "no leader" would otherwise be served until the next refresh
                self.admin.list_topics(topic=name, timeout=5)

    def end_offsets(self, topic: str, partitions: int) -> int:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        fs = self.admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)},
                                     request_timeout=10)
        return sum(f.result().offset for f in fs.values())

    def group_assigned(self, group: str, topic: str) -> int | None:
        """Partitions of `topic` assigned in `group` when it is STABLE, else None."""
        from confluent_kafka import ConsumerGroupState

        try:
            d = self.admin.describe_consumer_groups([group], request_timeout=5)[group].result()
        except Exception:
            return None
        if d.state != ConsumerGroupState.STABLE:
            return None
        return sum(1 for m in d.members for tp in (m.assignment.topic_partitions if m.assignment else [])
                   if tp.topic == topic)

    def delete_matching(self, needle: str) -> list[str]:
        """Deletes every topic whose name contains needle (the output topic and the app's
        internal topics: Kafka Streams '<application.id>-...', Quix 'changelog__<group>--...')."""
        names = [t for t in self.admin.list_topics(timeout=10).topics if needle in t]
        self.delete_topics(names)
        try:
            self.admin.delete_consumer_groups([needle], request_timeout=10)[needle].result()
        except Exception:
            pass  # Kafka Streams leaves its members to time out; the group expires by itself
        return names

    def delete_topics(self, names: list[str]) -> None:
        if not names:
            return
        for name, f in self.admin.delete_topics(names, operation_timeout=30).items():
            try:
                f.result()
            except Exception as e:
                log(f"warning: could not delete topic {name}: {e}")


# ---------------------------------------------------------------------------------------------
# Programs


class Program:
    """A system's program in its own process group, so that a run script and the JVM it starts
    are stopped together."""

    def __init__(self, argv: list[str], log_prefix: Path):
        self.argv = argv
        self.stdout_path = log_prefix.with_suffix(".out")
        self.stderr_path = log_prefix.with_suffix(".err")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            err.write(("$ " + " ".join(argv) + "\n").encode())
            err.flush()
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=ROOT, start_new_session=True)
        self.pgid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _group_alive(self) -> bool:
        self.proc.poll()  # reap the leader, or its zombie keeps the group "alive"
        try:
            os.killpg(self.pgid, 0)
            return True
        except ProcessLookupError:
            return False

    def stop(self) -> dict:
        peak_rss_mib = group_peak_rss_mib(self.pgid)
        start = time.monotonic()
        killed = False
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        while self._group_alive() and time.monotonic() - start < STOP_GRACE_S:
            time.sleep(0.05)
        if self._group_alive():
            killed = True
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        return {"exit_code": self.proc.returncode, "stop_s": round(time.monotonic() - start, 2), "killed": killed,
                "peak_rss_mib": peak_rss_mib}


def run_json(argv: list[str], log_prefix: Path, timeout: float) -> list[dict]:
    """Runs a bench-bin subcommand; its stdout is JSON lines (kept in the log dir)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    log_prefix.with_suffix(".out").write_text(r.stdout)
    log_prefix.with_suffix(".err").write_text("$ " + " ".join(argv) + "\n" + r.stderr)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} exited {r.returncode}; see {rel(log_prefix)}.err")
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(argv[:2])} printed no JSON; see {rel(log_prefix)}.out")
    return lines


# The timed engine pass is its own function in the bench so callgrind counts it alone: no
# generator, no digest pass, no start-up.
CALLGRIND_TOGGLE = "*timed_engine_pass*"


def count_instructions(bench_bin: str, workload: str, records: int, partitions: int, log_prefix: Path) -> dict:
    """Instructions per record of `workload`'s engine-only pass under callgrind: repeatable where
    timings on a shared machine are not, so a regression between two commits shows."""
    valgrind = shutil.which("valgrind")
    if not valgrind:
        raise RuntimeError("valgrind not found: apt-get install valgrind (or pass --no-instructions)")
    argv = [valgrind, "--tool=callgrind", f"--toggle-collect={CALLGRIND_TOGGLE}",
            f"--callgrind-out-file={log_prefix.with_suffix('.callgrind')}",
            bench_bin, "engine", "--workload", workload, "--records", str(records),
            "--partitions", str(partitions), "--runs", "1"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    log_prefix.with_suffix(".out").write_text(r.stdout)
    log_prefix.with_suffix(".err").write_text("$ " + " ".join(argv) + "\n" + r.stderr)
    if r.returncode != 0:
        raise RuntimeError(f"callgrind on engine {workload} exited {r.returncode}; see {rel(log_prefix)}.err")
    m = re.search(r"Collected\s*:\s*(\d+)", r.stderr)
    instructions = int(m.group(1)) if m else 0
    if instructions == 0:
        raise RuntimeError(f"callgrind counted nothing in {CALLGRIND_TOGGLE} for {workload}; see {rel(log_prefix)}.err")
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"engine {workload} under callgrind printed no JSON; see {rel(log_prefix)}.out")
    return {"workload": workload, "records": records, "instructions": instructions,
            "per_record": instructions / records, "outputs": lines[-1]["outputs"], "digest": lines[-1].get("digest")}


def count_workloads(bench_bin: str, workloads: list[str], records: int, partitions: int,
                    log_dir: Path) -> list[dict]:
    rows = []
    for w in workloads:
        log(f"instructions per record of engine-only {w} (callgrind, {records:,} records)")
        rows.append(count_instructions(bench_bin, w, records, partitions, log_dir / f"callgrind-{w}-{records}"))
        log(f"  {rows[-1]['per_record']:,.0f} instructions per record, {rows[-1]['outputs']:,} outputs")
    return rows


def instruction_rows(res: dict) -> list[dict]:
    return res.get("instructions") or []


def compare_instructions(base: dict, new: dict) -> list[tuple[str, float | None, float | None]]:
    """(workload, base per record, new per record) for every workload of either results file."""
    a = {r["workload"]: r["per_record"] for r in instruction_rows(base)}
    b = {r["workload"]: r["per_record"] for r in instruction_rows(new)}
    return [(w, a.get(w), b.get(w)) for w in dict.fromkeys([*a, *b])]


def print_instruction_comparison(base: dict, new: dict, base_name: str, new_name: str) -> bool:
    """Prints the per-record counts of two results files and their ratio; False when a workload's
    outputs differ (the two builds did not compute the same thing)."""
    same = True
    outs_a = {r["workload"]: (r["outputs"], r.get("digest")) for r in instruction_rows(base)}
    outs_b = {r["workload"]: (r["outputs"], r.get("digest")) for r in instruction_rows(new)}
    print(f"base: {base_name}\nnew:  {new_name}")
    print(f"{'workload':<12}{'base instr/record':>20}{'new instr/record':>20}{'new/base':>10}")
    for w, x, y in compare_instructions(base, new):
        ratio = f"{y / x:.3f}" if x and y else "–"
        note = ""
        if w in outs_a and w in outs_b and outs_a[w] != outs_b[w]:
            note, same = "  outputs differ", False
        print(f"{w:<12}{(f'{x:,.0f}' if x else '–'):>20}{(f'{y:,.0f}' if y else '–'):>20}{ratio:>10}{note}")
    return same


# ---------------------------------------------------------------------------------------------
# The suite


class Suite:
    def __init__(self, args):
        self.args = args
        self.profile = PROFILES[args.size]
        self.runs = args.runs or self.profile["runs"]
        self.P = args.partitions
        self.log_dir = Path(args.log_dir)
        (self.log_dir / "state").mkdir(parents=True, exist_ok=True)
        self.run_id = "nx" + dt.datetime.now().strftime("%m%d%H%M%S")
        self.cluster = Cluster(args.brokers)
        self.broker_pid = self._broker_pid()
        self.current: Program | None = None
        self.current_group: str | None = None  # whose topics an interruption must still delete
        self.topics: dict[tuple[str, int], str] = {}  # (kind, records) -> topic
        self.expected: dict[tuple[str, int], dict] = {}  # (workload, records) -> outputs, digest
        self.seconds_seen: dict[tuple[str, str], float] = {}
        self.results = {
            "suite": "nexmark", "run_id": self.run_id, "size": args.size,
            "profile": self.profile, "runs": self.runs, "partitions": self.P,
            "workloads": args.workloads, "systems": args.systems,
            "ceiling": not args.no_ceiling, "engine_row": not args.no_engine,
            "log_dir": rel(self.log_dir),
            "generate": [], "engine": [], "instructions": [], "throughput": [], "latency": [],
            "latency_plan": None,
        }

    def _broker_pid(self) -> int | None:
        if not self.args.kafka_dir:
            return None
        try:
            return int(Path(self.args.kafka_dir, "node-1", "pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- sizes -------------------------------------------------------------------------------

    def records(self, kind: str, system: str) -> int:
        return self.profile["records"][kind][SIZE_OF[system]]

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(WORKLOAD_KIND[w] for w in self.args.workloads))

    def systems_for(self, workload: str) -> list[str]:
        kind = WORKLOAD_KIND[workload]
        ceiling_here = (not self.args.no_ceiling and
                        workload == next(w for w in self.args.workloads if WORKLOAD_KIND[w] == kind))
        return (["ceiling"] if ceiling_here else []) + self.args.systems

    def topic_sizes(self, kind: str) -> list[int]:
        return sorted({self.records(kind, s) for w in self.args.workloads if WORKLOAD_KIND[w] == kind
                       for s in self.systems_for(w)})

    def engine_sizes(self, workload: str) -> list[int]:
        """Every size a system runs the workload on (its expected outputs) and the engine row's."""
        kind = WORKLOAD_KIND[workload]
        used = {self.records(kind, s) for s in self.args.systems}
        if not self.args.no_engine:
            used.add(self.records(kind, "engine"))
        if workload == "q0" and not self.args.no_ceiling:
            used.add(self.records(kind, "ceiling"))  # the ceiling's digest on nexmark input
        return sorted(used)

    # -- steps -------------------------------------------------------------------------------

    def generate(self) -> None:
        for kind in self.kinds():
            for n in self.topic_sizes(kind):
                topic = f"{self.run_id}-{kind}-{n}"
                log(f"generating {n:,} {kind} records into {topic}")
                line = run_json([self.args.bench_bin, "generate", "--brokers", self.args.brokers, "--kind", kind,
                                 "--topic", topic, "--records", str(n), "--partitions", str(self.P)],
                                self.log_dir / f"generate-{kind}-{n}", timeout=3600)[-1]
                self.topics[(kind, n)] = topic
                self.results["generate"].append(line)
                rate = line.get("records", n) / line["seconds"] if line.get("seconds") else None
                log(f"  {line.get('bytes', 0) / 1e6:.1f} MB in {line.get('seconds', 0):.2f} s"
                    + (f" ({rate:,.0f} records/s)" if rate else ""))

    def engine(self) -> None:
        for w in self.args.workloads:
            kind = WORKLOAD_KIND[w]
            for n in self.engine_sizes(w):
                # The engine row shows the big size; other sizes only give the expected outputs.
                timed = not self.args.no_engine and n == self.records(kind, "engine")
                runs = self.runs if timed else 1
                log(f"engine-only {w} on {n:,} records, {runs} run(s)")
                lines = run_json([self.args.bench_bin, "engine", "--workload", w, "--records", str(n),
                                  "--partitions", str(self.P), "--runs", str(runs)],
                                 self.log_dir / f"engine-{w}-{n}", timeout=3600)
                for i, line in enumerate(lines, 1):
                    self.results["engine"].append({**line, "workload": w, "records": n, "run": i, "timed": timed})
                    log(f"  run {i}: {line['outputs']:,} outputs, {line['records_per_s']:,.0f} records/s"
                        + (f", digest {line['digest']}" if "digest" in line else ""))
                # the engine may hash the outputs of its first run only
                digests = {(line["outputs"], line.get("digest", lines[0].get("digest"))) for line in lines}
                if len(digests) > 1:
                    log(f"warning: engine {w} runs disagree: {sorted(digests)}")
                if "digest" not in lines[0]:
                    raise RuntimeError(f"engine {w} printed no digest; see {rel(self.log_dir)}/engine-{w}-{n}.out")
                self.expected[(w, n)] = {"outputs": lines[0]["outputs"], "digest": lines[0]["digest"],
                                         "consistent": len(digests) == 1}

    def instructions(self) -> None:
        self.results["instructions"] = count_workloads(self.args.bench_bin, self.args.workloads,
                                                       self.profile["instructions_records"], self.P, self.log_dir)

    def program_argv(self, system: str, workload: str, inp: str, out: str, group: str, guarantee: str | None,
                     state_dir: Path, commit_ms: int | None) -> list[str]:
        a = self.args
        if system == "ceiling":
            return [a.bench_bin, "passthrough", "--brokers", a.brokers, "--input", inp, "--output", out, "--group", group]
        opts = ["--brokers", a.brokers, "--workload", workload, "--input", inp, "--output", out, "--group", group,
                "--state-dir", str(state_dir)]
        if guarantee:
            opts += ["--guarantee", guarantee]
        if commit_ms is not None:
            opts += ["--commit-interval-ms", str(commit_ms)]
        if system == "streamframe":
            return [a.bench_bin, "run", *opts]
        if system == "kafka-streams":
            return [str(a.ks_run), *opts]
        if system == "quix":
            return [a.venv_python, str(a.quix_script), *opts]
        if system == "python":
            return [a.python_venv_python, str(self.python_script()), *opts]
        raise ValueError(system)

    def python_script(self) -> Path:
        """The Quix peer with `quixstreams` replaced by `streamframe`, and nothing else."""
        script = Path(self.log_dir) / "nexmark_streamframe_python.py"
        if not script.exists():
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(self.args.quix_script.read_text().replace("quixstreams", "streamframe"))
        return script

    def wait_t0(self, prog: Program, group: str, topic: str) -> tuple[float, float]:
        """Polls the group until it is STABLE with every input partition assigned: the instant
        processing can start, after the JVM's start, Python's imports and the group join.
        Returns (t0, time since the previous poll, i.e. its resolution)."""
        deadline = time.monotonic() + T0_TIMEOUT_S
        prev = time.monotonic()
        while True:
            n = self.cluster.group_assigned(group, topic)
            now = time.monotonic()
            if n == self.P:
                return now, now - prev
            if not prog.alive():
                raise RunFailed(f"exited with {prog.proc.returncode} before its group was stable")
            if now > deadline:
                raise RunFailed(f"group not stable with {self.P} partitions assigned within {T0_TIMEOUT_S} s")
            prev = now
            time.sleep(0.005)

    def wait_t1(self, prog: Program, topic: str, expected: int, timeout_s: float, t0: float) -> tuple[float, int]:
        """Watches the output partitions' high watermarks until they sum to the expected count.
        With one replica the leader advances them before it acknowledges the producer. Polls
        slowly while far from the end and in a tight loop close to it (predicted from the rate
        so far), so the watcher costs the measured program little CPU and t1 is precise."""
        deadline = t0 + timeout_s
        while True:
            count = self.cluster.end_offsets(topic, self.P)
            now = time.monotonic()
            if count >= expected:
                return now, count
            if not prog.alive():
                raise RunFailed(f"exited with {prog.proc.returncode} after {count:,} of {expected:,} outputs")
            if now > deadline:
                raise RunFailed(f"only {count:,} of {expected:,} outputs after {timeout_s:.0f} s")
            elapsed = now - t0
            if count > 0 and elapsed > 0:
                remaining = (expected - count) / (count / elapsed)
                pause = min(0.05, max(0.001, remaining / 4))
            else:
                pause = 0.01
            time.sleep(pause)

    def check_output(self, topic: str, expected: int, digest: str | None, log_prefix: Path,
                     table: bool = False) -> dict:
        timeout_s = DIGEST_TIMEOUT_S + expected // DIGEST_RECORDS_PER_S
        try:
            line = run_json([self.args.bench_bin, "digest", "--brokers", self.args.brokers, "--topic", topic,
                             "--expect", str(expected), "--timeout-s", str(timeout_s)]
                            + (["--table"] if table else []),
                            log_prefix, timeout=timeout_s + 120)[-1]
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            return {"ok": False, "error": str(e)}
        ok = line["count"] == expected and (digest is None or line["digest"] == digest)
        return {"ok": ok, "count": line["count"], "digest": line["digest"], "expected_digest": digest}

    def throughput_run(self, workload: str, system: str, run: int) -> dict:
        kind = WORKLOAD_KIND[workload]
        n = self.records(kind, system)
        inp = self.topics[(kind, n)]
        if system == "ceiling":
            expected = n
            # The pass-through's outputs are the input records; for nexmark input that is q0's
            # output (values compare canonically), elsewhere only the count can be checked.
            digest = self.expected.get(("q0", n), {}).get("digest") if kind == "nexmark" else None
        else:
            expected = self.expected[(workload, n)]["outputs"]
            digest = self.expected[(workload, n)]["digest"]
        group = f"{self.run_id}-{workload}-{system}-r{run}-g"
        out = f"{group}-out"
        state_dir = self.log_dir / "state" / group
        state_dir.mkdir(parents=True, exist_ok=True)
        log_prefix = self.log_dir / group
        rec = {"workload": workload, "system": system, "run": run, "input_topic": inp, "records": n,
               "expected_outputs": expected, "group": group, "output_topic": out,
               "log": rel(log_prefix.with_suffix(".err")), "status": "failed"}
        nominal = self.seconds_seen.get((workload, system), n / NOMINAL_RATE[system])
        timeout = max(60.0, 20 * nominal)
        prog = None
        self.current_group = group
        try:
            self.cluster.create_topic(out, self.P)
            launched = time.monotonic()
            prog = self.current = Program(
                self.program_argv(system, workload, inp, out, group, None, state_dir,
                                  throughput_commit_ms(system, workload)), log_prefix)
            t0, resolution = self.wait_t0(prog, group, inp)
            rec["start_s"] = round(t0 - launched, 3)
            rec["commit_interval_ms"] = throughput_commit_ms(system, workload)
            rec["t0_resolution_s"] = round(resolution, 4)
            meter = CpuMeter(prog.pgid, self.broker_pid)
            t1, count = self.wait_t1(prog, out, expected, timeout, t0)
            rec["cpu"] = meter.stop(t1 - t0)
            rec["seconds"] = round(t1 - t0, 4)
            rec["records_per_s"] = round(n / (t1 - t0), 1)
            rec["outputs_at_t1"] = count
            rec["status"] = "ok"
            self.seconds_seen[(workload, system)] = t1 - t0
        except Exception as e:  # one failed run is recorded, not fatal for the suite
            rec["error"] = str(e) if isinstance(e, RunFailed) else f"{type(e).__name__}: {e}"
        finally:
            if prog is not None:
                rec.update(prog.stop())
            self.current = None
        try:
            rec["outputs_after_stop"] = self.cluster.end_offsets(out, self.P)
        except Exception as e:
            rec["outputs_after_stop"] = None
            log(f"warning: cannot read {out}'s end offsets: {e}")
        must_check = self.profile["check_every_run"] or not any(
            r["workload"] == workload and r["system"] == system and r.get("check")
            for r in self.results["throughput"])
        if rec["status"] == "ok" and must_check:
            rec["check"] = self.check_output(out, expected, digest, self.log_dir / f"{group}-digest",
                                             table=workload in TABLE_WORKLOADS)
            rec["agreement"] = "ok" if rec["check"]["ok"] else "FAILED"
        else:
            rec["agreement"] = "unchecked" if rec["status"] == "ok" else "FAILED"
        if (rec["outputs_after_stop"] or 0) > expected:
            # more outputs than the engine made: duplicates that the digest, which stops at the
            # expected count, cannot see
            rec["agreement"] = "FAILED"
        if not self.args.keep_topics:
            try:
                rec["deleted_topics"] = self.cluster.delete_matching(group)
            except Exception as e:
                log(f"warning: cannot delete the topics of {group}: {e}")
        self.current_group = None
        shutil.rmtree(state_dir, ignore_errors=True)
        return rec

    def throughput(self) -> None:
        plan = [(w, i, s) for w in self.args.workloads for i in range(1, self.runs + 1) for s in self.systems_for(w)]
        for k, (w, i, s) in enumerate(plan, 1):
            rec = self.throughput_run(w, s, i)
            self.results["throughput"].append(rec)
            head = f"[{k}/{len(plan)}] {w} {LABEL[s]} run {i}/{self.runs} ({rec['records']:,} records)"
            if rec["status"] == "ok":
                chk = rec.get("check")
                noisy = " NOISY" if rec.get("cpu", {}).get("noisy") else ""
                log(f"{head}: {rec['records_per_s']:,.0f} records/s ({rec['seconds']:.2f} s after a "
                    f"{rec['start_s']:.1f} s start){noisy}; outputs "
                    + (f"{chk.get('count', '?'):,} {'ok' if chk['ok'] else 'FAILED'}" if chk else "unchecked")
                    + ("" if rec["exit_code"] == 0 else f"; exit code {rec['exit_code']}"))
            else:
                log(f"{head}: FAILED: {rec['error']} (log {rec['log']})")

    def q1_maxima(self) -> dict[str, float]:
        """Each system's q1 maximum: the median records/s of its q1 throughput runs in this suite."""
        out = {}
        for s in self.args.systems:
            xs = [r["records_per_s"] for r in self.results["throughput"]
                  if r["workload"] == "q1" and r["system"] == s and r["status"] == "ok"]
            if xs:
                out[s] = statistics.median(xs)
        return out

    def latency_plan(self, maxima: dict[str, float], generator: float | None) -> list[dict]:
        """(system, rate, points) to probe: rates capped at what the probe's generator sends."""
        a = self.args
        wanted: list[tuple[str, str, float]] = []
        if a.latency_rate:
            wanted = [(s, "fixed", a.latency_rate) for s in a.systems]
        else:
            sf = maxima.get("streamframe")
            common = 0.5 * min(maxima.values()) if len(maxima) > 1 else None
            for s in a.systems:
                own = maxima.get(s)
                if sf:
                    wanted.append((s, "streamframe-50", 0.5 * sf))
                if own:
                    wanted.append((s, "own-50", 0.5 * own))
                    wanted.append((s, "own-10", 0.1 * own))
                    if common:
                        wanted.append((s, "common", common))
        plan: dict[tuple[str, int], dict] = {}
        for s, point, requested in wanted:
            rate = min(requested, generator) if generator else requested
            row = plan.setdefault((s, int(round(rate))), {"system": s, "rate": int(round(rate)), "points": [],
                                                            "requested": round(requested, 1),
                                                            "capped": rate < requested})
            row["points"].append(point)
        # Slowest rates first in each system (a backlog left by a run that fell behind is
        # deleted with its topics, but the broker's page cache is not).
        return sorted(plan.values(), key=lambda r: (a.systems.index(r["system"]), r["rate"]))

    def latency(self) -> None:
        a = self.args
        gen = [g["records"] / g["seconds"] for g in self.results["generate"]
               if g.get("kind") == "nexmark" and g.get("seconds")]
        generator = round(max(gen), 1) if gen else None
        maxima = self.q1_maxima()
        if not a.latency_rate and "streamframe" not in maxima:
            log("latency skipped: no streamframe q1 throughput to derive the rates from (--latency-rate R sets one)")
            self.results["latency_skipped"] = "no streamframe q1 throughput and no --latency-rate"
            return
        plan = self.latency_plan(maxima, generator)
        runs = a.latency_runs or self.profile.get("latency_runs", 1)
        self.results["latency_plan"] = {"q1_maxima": maxima, "generator": generator, "runs": runs,
                                        "rows": plan}
        seconds = self.profile["latency_s"] if a.latency_seconds is None else a.latency_seconds
        total = runs * len(plan) * 2
        k = 0
        for i in range(1, runs + 1):
            for row in plan:
                for guarantee in ("alo", "eos"):
                    k += 1
                    log(f"[{k}/{total}] latency {LABEL[row['system']]} {guarantee} at {row['rate']:,} records/s "
                        f"({', '.join(row['points'])}), run {i}/{runs}")
                    rec = self.latency_run(row["system"], guarantee, row["rate"], seconds)
                    rec.update(run=i, points=row["points"])
                    self.results["latency"].append(rec)

    def latency_run(self, system: str, guarantee: str, rate: int, seconds: float) -> dict:
        group = f"{self.run_id}-lat-{system}-{guarantee}-{rate}-{int(time.time() * 1000) % 100000:05d}-g"
        inp, out = f"{group}-in", f"{group}-out"
        state_dir = self.log_dir / "state" / group
        state_dir.mkdir(parents=True, exist_ok=True)
        log_prefix = self.log_dir / group
        rec = {"system": system, "guarantee": guarantee, "rate": rate, "seconds": seconds, "group": group,
               "log": rel(log_prefix.with_suffix(".err")), "status": "failed"}
        eos = guarantee == "eos"
        prog = None
        self.current_group = group
        try:
            self.cluster.create_topic(inp, self.P)
            self.cluster.create_topic(out, self.P)
            # Every system commits every 100 ms under exactly-once, so the delay before outputs
            # become visible to a read_committed reader is the same for all.
            prog = self.current = Program(self.program_argv(system, "q1", inp, out, group, "eos" if eos else None,
                                                            state_dir, 100 if eos else None), log_prefix)
            self.wait_t0(prog, group, inp)
            argv = [self.args.bench_bin, "latency", "--brokers", self.args.brokers, "--input", inp, "--output", out,
                    "--rate", str(rate), "--seconds", str(seconds), "--drain-s", str(LATENCY_DRAIN_S)]
            if eos:
                argv.append("--read-committed")
            try:
                line = run_json(argv, self.log_dir / f"{group}-probe", timeout=seconds + LATENCY_DRAIN_S + 120)[-1]
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                raise RunFailed(f"latency probe: {e}")
            rec.update(line)
            rec["status"] = "ok"
            rec["behind"] = line["received"] < line["expected"]
        except Exception as e:  # recorded, not fatal for the suite
            rec["error"] = str(e) if isinstance(e, RunFailed) else f"{type(e).__name__}: {e}"
        finally:
            if prog is not None:
                rec.update(prog.stop())
            self.current = None
        if not self.args.keep_topics:
            try:
                self.cluster.delete_matching(group)
            except Exception as e:
                log(f"warning: cannot delete the topics of {group}: {e}")
        self.current_group = None
        shutil.rmtree(state_dir, ignore_errors=True)
        if rec["status"] == "ok":
            log(f"latency {LABEL[system]} {guarantee}: p50 {fmt_ms(rec['p50_ms'])}, p99 {fmt_ms(rec['p99_ms'])}, "
                f"max {fmt_ms(rec['max_ms'])} ms at {rec.get('input_rate', rate):,.0f} records/s; received "
                f"{rec['received']:,} of {rec['expected']:,}" + (" (FELL BEHIND)" if rec["behind"] else ""))
        else:
            log(f"latency {LABEL[system]} {guarantee}: FAILED: {rec['error']} (log {rec['log']})")
        return rec

    def cleanup(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None
        if not self.args.keep_topics:
            try:
                self.cluster.delete_topics(list(self.topics.values()))
                if self.current_group:
                    self.cluster.delete_matching(self.current_group)
            except Exception as e:
                log(f"warning: could not delete the suite's topics: {e}")


class RunFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Summary, report and chart (from the results JSON alone, so --report-only can redo them)


def spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(res: dict) -> dict:
    """Median records/s (and min, max) per workload and column, and streamframe's ratios."""
    rows = {}
    for w in res["workloads"]:
        kind = WORKLOAD_KIND[w]
        row = {}
        for s in ["ceiling", *PEERS]:
            src = [r for r in res["throughput"] if r["system"] == s and
                   (WORKLOAD_KIND[r["workload"]] == kind if s == "ceiling" else r["workload"] == w)]
            if src:
                row[s] = spread([r["records_per_s"] for r in src if r["status"] == "ok"]) or {"n": 0}
                row[s]["runs"] = len(src)
                row[s]["records"] = src[0]["records"]
        eng = [e for e in res["engine"] if e["workload"] == w and e.get("timed")]
        if eng:
            row["engine"] = spread([e["records_per_s"] for e in eng])
            row["engine"]["runs"] = len(eng)
            row["engine"]["records"] = eng[0]["records"]
        med = lambda s: (row.get(s) or {}).get("median")
        ratios = {}
        for other in ("kafka-streams", "quix", "ceiling"):
            if med("streamframe") and med(other):
                ratios[f"streamframe/{other}"] = med("streamframe") / med(other)
        if med("python") and med("quix"):
            ratios["python/quix"] = med("python") / med("quix")
        row["ratios"] = ratios
        rows[w] = row
    return rows


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def fmt_count(n: int) -> str:
    for div, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            return f"{n / div:g}{unit}"
    return str(n)


def fmt_ms(x) -> str:
    return "–" if x is None else (f"{x:.1f}" if x < 100 else f"{x:,.0f}")


def ms_cell(c: dict | None) -> str:
    if not c:
        return "–"
    cell = fmt_ms(c["median"])
    if c["n"] > 1:
        cell += f" ({fmt_ms(c['min'])}–{fmt_ms(c['max'])})"
    return cell


def latency_rows(res: dict) -> list[dict]:
    """The latency runs by system, guarantee and rate, with the median (min, max) of each percentile."""
    groups: dict[tuple, list[dict]] = {}
    for r in res["latency"]:
        groups.setdefault((r["system"], r["guarantee"], r["rate"]), []).append(r)
    rows = []
    for (system, guarantee, rate), runs in groups.items():
        ok = [r for r in runs if r["status"] == "ok"]
        row = {"system": system, "guarantee": guarantee, "rate": rate, "points": runs[0].get("points", []),
               "runs": runs, "ok": ok, "behind": any(r.get("behind") for r in ok),
               "received": sum(r["received"] for r in ok), "expected": sum(r["expected"] for r in ok)}
        for f in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "input_rate"):
            row[f] = spread([r[f] for r in ok if r.get(f) is not None])
        rows.append(row)
    order = {s: i for i, s in enumerate(PEERS)}
    rows.sort(key=lambda r: (order.get(r["system"], 99), r["guarantee"] != "alo", r["rate"]))
    return rows


def render_latency_chart(res: dict, path: Path) -> bool:
    """One CDF line per latency row that kept up (the run with the median p99), one panel per guarantee."""
    rows = [r for r in latency_rows(res) if r["ok"] and not r["behind"] and any(x.get("cdf") for x in r["ok"])]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"own-10": ":", "common": "--", "own-50": "-", "streamframe-50": "-.", "fixed": "-"}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    ticks = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999]
    for ax, guarantee, title in zip(axes, ("alo", "eos"), ("at-least-once", "exactly-once (100 ms commits)")):
        for row in (r for r in rows if r["guarantee"] == guarantee):
            runs = sorted((x for x in row["ok"] if x.get("cdf")), key=lambda x: x["p99_ms"])
            run = runs[len(runs) // 2]
            pts = [(q, ms) for q, ms in run["cdf"] if 0 < q < 1 and ms is not None and ms > 0]
            if not pts:
                continue
            point = row["points"][0] if row["points"] else "fixed"
            ax.plot([ms for _, ms in pts], [q for q, _ in pts], color=COLOR[row["system"]],
                    linestyle=style.get(point, "-"), linewidth=1.4,
                    label=f"{LABEL[row['system']]} at {fmt_rate(row['rate'])}/s ({', '.join(row['points'])})")
        ax.set_xscale("log")
        ax.set_yscale("logit")
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"p{q * 100:g}" for q in ticks])
        ax.set_ylim(0.005, 0.99995)
        ax.set_xlabel("latency, ms (probe: produce -> output read)")
        ax.set_title(title, fontsize=10)
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("percentile of outputs")
    prov = res["provenance"]
    fig.suptitle(f"Nexmark q1 latency — streamframe {prov['commit']}{'-dirty' if prov['dirty'] else ''}, "
                 f"{prov['machine'].get('cpu_model')}, {prov['date'][:10]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def rate_cell(c: dict | None) -> str:
    if not c:
        return "–"
    if not c.get("n"):
        return f"FAILED ({c['runs']} of {c['runs']})"
    cell = f"{c['median']:,.0f}"
    if c["n"] > 1:
        cell += f" ({fmt_rate(c['min'])}–{fmt_rate(c['max'])})"
    if c["n"] < c["runs"]:
        cell += f", {c['runs'] - c['n']} of {c['runs']} FAILED"
    return cell


def agreement_cell(runs: list[dict]) -> str:
    if not runs:
        return "–"
    bad = [r for r in runs if r["agreement"] == "FAILED"]
    checked = [r for r in runs if r.get("check")]
    if not bad:
        counts = sorted({r["check"]["count"] for r in checked if "count" in r["check"]})
        note = "ok" + (": " + ", ".join(f"{c:,}" for c in counts) if counts else "")
        note += f" ({len(checked)} of {len(runs)} runs checked"
        if any(r.get("check", {}).get("expected_digest") is None for r in checked):
            note += ", count only"
        return note + ")"
    parts = []
    for r in bad:
        if r["status"] != "ok":
            parts.append(f"run {r['run']}: {r.get('error', 'failed')}")
            continue
        chk = r.get("check") or {}
        what = []
        if "count" in chk and chk["count"] != r["expected_outputs"]:
            what.append(f"{chk['count']:,} of {r['expected_outputs']:,}")
        if chk.get("expected_digest") and chk.get("digest") != chk.get("expected_digest"):
            what.append("digest differs")
        if chk.get("error"):
            what.append(chk["error"])
        if r.get("outputs_after_stop", 0) > r["expected_outputs"]:
            what.append(f"{r['outputs_after_stop']:,} outputs in the topic after the stop")
        parts.append(f"run {r['run']}: " + (", ".join(what) or "failed"))
    return "FAILED: " + "; ".join(parts)


def results_stem(res: dict) -> str:
    prov = res["provenance"]
    stem = f"{prov['date'][:10]}-{prov['commit']}"
    # a quick look should not overwrite the full results of the same commit and day
    return stem if res["size"] == "full" else f"{stem}-{res['size']}"


def render_memory(res: dict, sysnames: list[str]) -> list[str]:
    """Peak RSS of each system's process group in its throughput runs (median of the runs that
    recorded one), and streamframe's as a share of Kafka Streams'."""
    peaks: dict[str, dict[str, list[float]]] = {}
    for r in res["throughput"]:
        if r.get("peak_rss_mib"):
            peaks.setdefault(r["workload"], {}).setdefault(r["system"], []).append(r["peak_rss_mib"])
    if not peaks:
        return []
    cols = [s for s in sysnames if any(s in row for row in peaks.values())]
    ratio = "streamframe" in cols and "kafka-streams" in cols
    head = ["workload"] + [LABEL[s] for s in cols] + (["streamframe / Kafka Streams"] if ratio else [])
    L = ["## Peak memory (RSS, MiB)", "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for w, row in peaks.items():
        med = {s: statistics.median(v) for s, v in row.items()}
        cells = [f"`{w}`"] + [f"{med[s]:,.0f}" if s in med else "–" for s in cols]
        if ratio:
            cells.append(f"{med['streamframe'] / med['kafka-streams']:.2f}"
                         if "streamframe" in med and med.get("kafka-streams") else "–")
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    L.append("The sum of the high-water marks (VmHWM) of the processes in the system's process group "
             "(the program, or its run script and the JVM or Python process it starts), read just before "
             "the run is stopped; median of the throughput runs.")
    L.append("")
    return L


def render_markdown(res: dict, png_name: str) -> str:
    prov, prof = res["provenance"], res["profile"]
    m, v = prov["machine"], prov["versions"]
    summary = res["summary"]
    sysnames = [s for s in COLUMNS if any(s in summary[w] for w in summary)]
    L = []
    dirty = ", with uncommitted changes" if prov["dirty"] else ""
    L.append(f"# Nexmark peers: streamframe, Kafka Streams, Quix Streams ({prov['date'][:10]}, {prov['commit']})")
    L.append("")
    L.append(f"Made by `scripts/bench --suite nexmark --size {res['size']}` (bench/nexmark/driver.py); every "
             f"number below comes from `{Path(res.get('results_file', 'results.json')).name}` beside this file. "
             f"Logs of the run: `{res['log_dir']}`.")
    L.append("")
    L.append("## What was run")
    L.append("")
    sizes = []
    for kind in dict.fromkeys(WORKLOAD_KIND[w] for w in res["workloads"]):
        by_size: dict[int, list[str]] = {}
        for system in ("ceiling", "streamframe", "engine", "python", "kafka-streams", "quix"):
            n = prof["records"][kind].get(SIZE_OF[system], prof["records"][kind]["small"])
            by_size.setdefault(n, []).append(LABEL[system])
        if len(by_size) == 1:
            sizes.append(f"{kind} {next(iter(by_size)):,} records (every system)")
        else:
            sizes.append(f"{kind} " + ", ".join(f"{n:,} records ({', '.join(names)})"
                                                for n, names in sorted(by_size.items(), reverse=True))
                         + " (each the first records of the same sequence)")
    L.append(f"- **Size** `{res['size']}`: {'; '.join(sizes)}. {res['partitions']} partitions, "
             f"{res['runs']} {'run' if res['runs'] == 1 else 'runs'} per system and workload (the median and, with more than one run, the "
             f"min–max), systems interleaved within a run index; workloads {', '.join(res['workloads'])} "
             "(bench/nexmark/SPEC.md).")
    L.append(f"- **Versions**: streamframe {v.get('streamframe')} (commit `{prov['commit_full']}`{dirty}), "
             f"librdkafka {v.get('librdkafka')}; Kafka Streams {v.get('kafka_streams')} on {v.get('java')}; "
             f"Quix Streams {v.get('quixstreams')} with confluent-kafka {v.get('confluent_kafka')} on Python "
             f"{v.get('quix_python')}; broker Apache Kafka {v.get('broker')} (one node, KRaft, loopback); "
             f"driver on Python {v.get('python')}.")
    L.append(f"- **Machine**: {m.get('cpu_model')}, {m.get('nproc')} cores, {m.get('mem_gb')} GB, Linux "
             f"{m.get('kernel')}; load average at the start {', '.join(str(x) for x in m.get('load_at_start', []))}. "
             "The broker, the program under test and the driver share these cores.")
    L.append("")
    L.append("**Throughput** (at-least-once, every system's default settings). Each run gets a fresh output "
             "topic, consumer group and state directory, and reads the whole input topic from the beginning. "
             "**t0** is the first instant the broker describes the program's consumer group as STABLE with all "
             f"{res['partitions']} input partitions assigned (the driver asks every 5 ms), so the JVM's start, "
             "Python's imports and the group join are outside the timed interval for every system alike. "
             "**t1** is the first instant the output partitions' high watermarks (ListOffsets, asked in a loop "
             "that tightens to 1 ms near the end) sum to the expected output count: with one replica the broker "
             "advances them before it acknowledges the producer, so t1 is the acknowledgement of the last output. "
             "records/s = input records / (t1 − t0). The expected count and digest come from streamframe's "
             "engine-only run of the same workload on the same number of records; the output topic is then "
             "read back (`streamframe_bench_nexmark digest`: count and an order-independent hash of key and "
             "canonical JSON value) and compared"
             + (" after every run." if prof["check_every_run"] else " after the first run of each system and workload.")
             + " The **ceiling** is a raw librdkafka consume→produce pass-through (no parsing) of the workload's "
             "input topic, measured once per input kind; **engine-only** runs the streamframe pipeline in-process "
             "on records made in memory, no broker (deserialize, pipeline, serialize).")
    L.append("")
    lr, lp = res.get("latency_rate"), res.get("latency_plan")
    if res["latency"] and (lp or lr):
        probe = (f"for {res['latency'][0]['seconds']} s into an empty input topic, each stamped with the time it "
                 "is produced, reads the output topic and takes now − timestamp per output (the probe's reader "
                 f"then waits up to {LATENCY_DRAIN_S} s for the rest). The program is started and its group "
                 "stable before the probe starts.")
        guarantees = ("At-least-once runs use each system's default commit interval; exactly-once runs use "
                      "`--guarantee eos --commit-interval-ms 100` for every system, and the probe reads "
                      "read_committed, so outputs count only once their transaction commits.")
        if lp:
            maxima = ", ".join(f"{LABEL[k]} {v:,.0f}" for k, v in lp["q1_maxima"].items())
            rates = ("Each system is probed at 50 % and 10 % of its own q1 maximum (the median q1 records/s of "
                     f"the throughput step: {maxima}), at 50 % of the slowest system's maximum (a rate every "
                     "system sustains) and at 50 % of streamframe's"
                     + (f", every rate capped at what the probe's generator sends ({lp['generator']:,.0f} records/s)"
                        if lp.get("generator") else "")
                     + f"; {lp['runs']} {'run' if lp['runs'] == 1 else 'runs'} of each, systems interleaved (the "
                     "median and, with more than one run, the min–max).")
            L.append(f"**Latency** (workload q1). The latency probe produces fresh nexmark events at a fixed rate "
                     f"{probe} {rates} {guarantees}")
        else:
            L.append(f"**Latency** (workload q1). The latency probe produces fresh nexmark events at {lr['rate']:,} "
                     f"records/s ({lr['from']}: {lr['requested']:,.0f}"
                     + (f", capped at what the generator sends, {lr['generator']:,.0f}" if lr.get("capped") else "")
                     + f") {probe} {guarantees}")
        L.append("")
    L.append("## Throughput (records/s)")
    L.append("")
    head = ["workload"] + [LABEL[s] for s in sysnames]
    ratio_cols = [k for k in ("streamframe/kafka-streams", "streamframe/quix", "python/quix", "streamframe/ceiling")
                  if any(k in summary[w]["ratios"] for w in summary)]
    ratio_label = {"streamframe/kafka-streams": "streamframe / Kafka Streams", "streamframe/quix": "streamframe / Quix",
                   "python/quix": "streamframe (Python) / Quix", "streamframe/ceiling": "streamframe / ceiling"}
    head += [ratio_label[k] for k in ratio_cols]
    L.append("| " + " | ".join(head) + " |")
    L.append("|---|" + "---:|" * (len(head) - 1))
    for w, row in summary.items():
        cells = [f"`{w}`"] + [rate_cell(row.get(s)) for s in sysnames]
        cells += [f"{row['ratios'][k]:.2f}" if k in row["ratios"] else "–" for k in ratio_cols]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    topic_note = []
    for kind in dict.fromkeys(WORKLOAD_KIND[w] for w in summary):
        by_size: dict[int, list[str]] = {}
        for s in sysnames:
            ns = {summary[w][s]["records"] for w in summary if WORKLOAD_KIND[w] == kind and s in summary[w]}
            for n in ns:
                by_size.setdefault(n, []).append(LABEL[s])
        topic_note.append(f"{kind} " + ", ".join(
            f"{n:,}" + ("" if len(by_size) == 1 else f" ({', '.join(names)})") for n, names in sorted(by_size.items())))
    measured_in = {WORKLOAD_KIND[r["workload"]]: r["workload"] for r in res["throughput"] if r["system"] == "ceiling"}
    repeats = [f"{w} repeats the {measured_in[WORKLOAD_KIND[w]]} row's" for w in summary
               if "ceiling" in summary[w] and measured_in.get(WORKLOAD_KIND[w]) != w]
    L.append("Input records per run: " + "; ".join(topic_note) + ". Ratios are of medians."
             + (" The ceiling is measured once per input topic: " + ", ".join(repeats) + "." if repeats else ""))
    L.append("")
    L.append(f"![throughput]({png_name})")
    L.append("")
    L.extend(render_memory(res, sysnames))
    L.append("## Output agreement")
    L.append("")
    expect_rows = {}
    for e in res["engine"]:
        expect_rows.setdefault(e["workload"], {})[e["records"]] = e["outputs"]
    agree_sys = [s for s in ["ceiling", *PEERS] if any(r["system"] == s for r in res["throughput"])]
    L.append("| workload | expected outputs (engine-only) | " + " | ".join(LABEL[s] for s in agree_sys) + " |")
    L.append("|---|---:|" + "---|" * len(agree_sys))
    for w in res["workloads"]:
        kind = WORKLOAD_KIND[w]
        exp = expect_rows.get(w, {})
        exp_cell = ", ".join(f"{o:,} of {n:,} records" for n, o in sorted(exp.items()))
        cells = []
        for s in agree_sys:
            runs = [r for r in res["throughput"] if r["system"] == s and
                    (WORKLOAD_KIND[r["workload"]] == kind if s == "ceiling" else r["workload"] == w)]
            if s == "ceiling" and runs and runs[0]["workload"] != w:
                cells.append(f"(the {runs[0]['workload']} row)")
            else:
                cells.append(agreement_cell(runs))
        L.append(f"| `{w}` | {exp_cell} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("The ceiling's expected count is its input topic's size; for nexmark input its digest is compared "
             "with q0's, elsewhere only the count.")
    L.append("")
    if res["latency"]:
        L.append("## Latency (q1)")
        L.append("")
        L.append("| system | guarantee | input rate (records/s) | rate | runs | p50 ms | p90 ms | p99 ms | p99.9 ms | "
                 "max ms | received / expected |")
        L.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for row in latency_rows(res):
            g = "exactly-once" if row["guarantee"] == "eos" else "at-least-once"
            which = "; ".join(LATENCY_POINTS.get(p, p) for p in row["points"]) or "–"
            failed = len(row["runs"]) - len(row["ok"])
            if not row["ok"]:
                errors = "; ".join(str(r.get("error")) for r in row["runs"])
                L.append(f"| {LABEL[row['system']]} | {g} | {row['rate']:,} | {which} | {len(row['runs'])} | – | – | "
                         f"– | – | – | FAILED: {errors} |")
                continue
            recv = f"{row['received']:,} / {row['expected']:,}" + (" **fell behind**" if row["behind"] else "")
            if failed:
                recv += f", {failed} of {len(row['runs'])} runs FAILED"
            rate = row["input_rate"]["median"] if row["input_rate"] else row["rate"]
            L.append(f"| {LABEL[row['system']]} | {g} | {rate:,.0f} | {which} | {len(row['runs'])} | "
                     + " | ".join(ms_cell(row[f]) for f in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"))
                     + f" | {recv} |")
        L.append("")
        L.append("A system that received fewer outputs than expected fell behind the input rate: its numbers "
                 "cover only what arrived before the probe stopped waiting.")
        L.append("")
        if any(r.get("cdf") for r in res["latency"]):
            L.append(f"![latency CDF]({png_name.replace('.png', '-latency.png')})")
            L.append("")
            L.append("Each line is the distribution of one row above (the run with the median p99), on a percentile "
                     "scale that stretches the tail; rows that fell behind are left out.")
            L.append("")
    elif res.get("latency_skipped"):
        L.append(f"Latency was not measured: {res['latency_skipped']}.")
        L.append("")
    if instruction_rows(res):
        rows = instruction_rows(res)
        L.append("## Instructions per record (engine-only, callgrind)")
        L.append("")
        L.append(f"The engine-only pass of each workload on {rows[0]['records']:,} records under "
                 "`valgrind --tool=callgrind`, counting only the timed pass. Unlike records/s these counts "
                 "repeat from run to run on a busy machine; bench/README.md says how to compare two commits.")
        L.append("")
        L.append("| workload | instructions per record | outputs |")
        L.append("|---|---:|---:|")
        for r in rows:
            L.append(f"| `{r['workload']}` | {r['per_record']:,.0f} | {r['outputs']:,} |")
        L.append("")
    L.append("## Notes")
    L.append("")
    notes = auto_notes(res)
    L.extend(f"- {n}" for n in notes) if notes else L.append("- Nothing unusual in this run.")
    L.append("")
    L.append("### NOTES (bench/nexmark/notes.md)")
    L.append("")
    notes_md = ROOT / "bench/nexmark/notes.md"
    if notes_md.exists():
        L.append(notes_md.read_text().rstrip())
    else:
        L.append("(bench/nexmark/notes.md does not exist: what each peer lacks or does differently goes there, "
                 "and `driver.py --report-only` copies it here.)")
    L.append("")
    return "\n".join(L)


def auto_notes(res: dict) -> list[str]:
    notes = []
    for r in res["throughput"]:
        if r["status"] != "ok":
            notes.append(f"{r['workload']} {LABEL[r['system']]} run {r['run']} failed: {r.get('error')} "
                         f"(log `{r['log']}`).")
        elif r["agreement"] == "FAILED":
            notes.append(f"{r['workload']} {LABEL[r['system']]} run {r['run']}: outputs disagree "
                         f"({agreement_cell([r])[8:]}); log `{r['log']}`.")
        if r.get("exit_code") not in (0, None):
            notes.append(f"{r['workload']} {LABEL[r['system']]} run {r['run']} exited with code {r['exit_code']}"
                         + (" after SIGKILL (did not stop within 30 s of SIGTERM)" if r.get("killed") else "")
                         + f" (log `{r['log']}`).")
    for r in res["latency"]:
        if r.get("exit_code") not in (0, None):
            notes.append(f"latency {LABEL[r['system']]} {r['guarantee']} at {r['rate']:,} records/s exited with "
                         f"code {r['exit_code']} (log `{r['log']}`).")
    capped = [r for r in (res.get("latency_plan") or {}).get("rows", []) if r.get("capped")]
    if capped:
        notes.append(f"Latency rates capped at the probe generator's rate ({res['latency_plan']['generator']:,.0f} "
                     "records/s): " + ", ".join(f"{LABEL[r['system']]} {r['requested']:,.0f}" for r in capped) + ".")
    noisy = [r for r in res["throughput"] if r.get("cpu", {}).get("noisy")]
    if noisy:
        notes.append(f"{len(noisy)} of {len(res['throughput'])} throughput runs were noisy: other processes used "
                     f"more than {NOISY_SHARE:.0%} of the machine during the timed interval ("
                     + ", ".join(f"{r['workload']} {LABEL[r['system']]} run {r['run']}" for r in noisy[:10])
                     + (", ..." if len(noisy) > 10 else "") + ").")
    load = res["provenance"]["machine"].get("load_at_start") or [0]
    if load[0] > 0.5:
        notes.append(f"The load average was {load[0]} at the start: the machine was not idle.")
    lr = res.get("latency_rate")
    if lr and lr.get("capped"):
        notes.append(f"The latency input rate was capped at the generator's rate ({lr['generator']:,.0f} records/s) "
                     f"instead of {lr['requested']:,.0f}.")
    groups: dict[tuple, list[dict]] = {}
    for e in res["engine"]:
        groups.setdefault((e["workload"], e["records"]), []).append(e)
    inconsistent = sorted({f"{w} ({n:,} records)" for (w, n), es in groups.items()
                           if len({e["outputs"] for e in es}) > 1 or len({e["digest"] for e in es if "digest" in e}) > 1})
    if inconsistent:
        notes.append(f"Engine-only runs of {', '.join(inconsistent)} disagreed with each other on outputs or digest.")
    if res.get("interrupted"):
        notes.append("The run was interrupted: the results are partial.")
    return notes


def render_chart(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = res["summary"]
    workloads = list(summary)
    systems = [s for s in COLUMNS if any((summary[w].get(s) or {}).get("n") for w in workloads)]
    if not workloads or not systems:
        return
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(workloads) + 2), 5.5))
    for i, s in enumerate(systems):
        xs, med, lo, hi = [], [], [], []
        for j, w in enumerate(workloads):
            c = summary[w].get(s)
            if c and c.get("n"):
                xs.append(j - 0.4 + width * (i + 0.5))
                med.append(c["median"])
                lo.append(c["median"] - c["min"])
                hi.append(c["max"] - c["median"])
        records = sorted({summary[w][s]["records"] for w in workloads if s in summary[w]})
        label = f"{LABEL[s]} ({'/'.join(fmt_count(n) for n in records)} records)"
        ax.bar(xs, med, width, yerr=[lo, hi], capsize=2, color=COLOR[s], label=label, edgecolor="black", linewidth=0.4)
        for x, y in zip(xs, med):
            ax.text(x, y * 1.08, fmt_rate(y).replace(" ", ""), ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads)
    ax.set_ylabel("records/s (median; bars: min–max)")
    ax.grid(axis="y", which="both", alpha=0.3)
    top = max((summary[w][s]["max"] for w in workloads for s in systems if (summary[w].get(s) or {}).get("n")))
    bottom = min((summary[w][s]["min"] for w in workloads for s in systems if (summary[w].get(s) or {}).get("n")))
    ax.set_ylim(bottom=bottom / 3, top=top * 2.5)
    prov = res["provenance"]
    m = prov["machine"]
    ax.set_title(f"Nexmark peers, {res['size']} size, {res['partitions']} partitions — streamframe "
                 f"{prov['commit']}{'-dirty' if prov['dirty'] else ''}\n{m.get('cpu_model')}, {m.get('nproc')} cores, "
                 f"{prov['date'][:10]}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(3, len(systems)), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(res: dict) -> None:
    summary = res["summary"]
    cols = [s for s in COLUMNS if any(s in summary[w] for w in summary)]
    widths = [11] + [max(14, len(LABEL[s])) for s in cols]
    print("".join(h.ljust(wd + 2) for h, wd in zip(["workload"] + [LABEL[s] for s in cols], widths)) +
          "sf/KS   sf/Quix  py/Quix sf/ceiling")
    for w, row in summary.items():
        cells = [w] + [(fmt_rate(row[s]["median"]) if (row.get(s) or {}).get("n") else ("FAILED" if s in row else "–"))
                       for s in cols]
        r = row["ratios"]
        ratios = [f"{r[k]:.2f}" if k in r else "–" for k in ("streamframe/kafka-streams", "streamframe/quix",
                                                              "python/quix", "streamframe/ceiling")]
        print("".join(c.ljust(wd + 2) for c, wd in zip(cells, widths)) + "".join(x.ljust(8) for x in ratios))
    rows = latency_rows(res)
    if rows:
        print("\nlatency q1       guarantee  records/s   p50 ms   p99 ms   max ms")
        for row in rows:
            med = lambda f: fmt_ms(row[f]["median"]) if row[f] else "–"
            print(f"{LABEL[row['system']]:<16} {row['guarantee']:<10} {row['rate']:>9,.0f}  {med('p50_ms'):>7}  "
                  f"{med('p99_ms'):>7}  {med('max_ms'):>7}" + ("  FELL BEHIND" if row["behind"] else "")
                  + ("" if row["ok"] else "  FAILED"))
    print_instructions(res)


def print_instructions(res: dict) -> None:
    rows = instruction_rows(res)
    if rows:
        print(f"instructions per record (engine-only, callgrind, {rows[0]['records']:,} records):")
        for r in rows:
            print(f"  {r['workload']:<12}{r['per_record']:>12,.0f}")


def write_outputs(res: dict, results_dir: Path, json_path: Path | None = None, latest: bool = True) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    res["summary"] = summarize(res)
    stem = results_stem(res)
    json_path = json_path or results_dir / f"{stem}.json"
    res["results_file"] = rel(json_path)
    json_path.write_text(json.dumps(res, indent=1) + "\n")
    md_path, png_path = json_path.with_suffix(".md"), json_path.with_suffix(".png")
    render_chart(res, png_path)
    latency_png = png_path.with_name(png_path.stem + "-latency.png")
    has_latency_chart = render_latency_chart(res, latency_png)
    md_path.write_text(render_markdown(res, png_path.name))
    if latest:
        # stable names for bench/README.md to link; the .md links the chart by its own name
        (json_path.parent / "peers-latest.md").write_text(render_markdown(res, "peers-latest.png"))
        if png_path.exists():
            shutil.copyfile(png_path, json_path.parent / "peers-latest.png")
        if has_latency_chart:
            shutil.copyfile(latency_png, json_path.parent / "peers-latest-latency.png")
    log(f"results: {rel(json_path)}, report {rel(md_path)}, chart {rel(png_path)}")
    return json_path


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Nexmark peer suite: streamframe vs Kafka Streams vs Quix Streams (bench/nexmark/SPEC.md). "
                    "Normally run through `scripts/bench --suite nexmark`.")
    csv = lambda s: [x.strip() for x in s.split(",") if x.strip()]
    p.add_argument("--size", choices=sorted(PROFILES), default="quick", help="size profile (default quick)")
    p.add_argument("--runs", type=int, help="runs per system and workload (default: quick 1, full 3)")
    p.add_argument("--systems", type=csv, default=list(PEERS), help="comma list of " + ",".join(PEERS))
    p.add_argument("--workloads", type=csv, default=list(WORKLOAD_KIND), help="comma list of " + ",".join(WORKLOAD_KIND))
    p.add_argument("--no-ceiling", action="store_true", help="skip the raw librdkafka pass-through")
    p.add_argument("--no-engine", action="store_true", help="no engine-only row (it still gives the expected outputs)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency step")
    p.add_argument("--no-instructions", action="store_true",
                   help="skip the instructions-per-record step (callgrind on each engine-only workload)")
    p.add_argument("--instructions-only", action="store_true",
                   help="only count instructions per record (no broker, no peers); writes "
                        "instructions-<date>-<commit>.json in --results-dir")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("BASE.json", "NEW.json"),
                   help="print the instructions per record of two results files and their ratio; runs nothing")
    p.add_argument("--latency-rate", type=float,
                   help="one latency input rate for every system (default: 50%% and 10%% of each system's own q1 "
                        "median, 50%% of streamframe's and 50%% of the slowest system's)")
    p.add_argument("--latency-runs", type=int, help="probe runs per system, guarantee and rate (default: quick 1, full 2)")
    p.add_argument("--latency-seconds", type=float, help="latency probe duration (default: from the size profile)")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench/results")
    p.add_argument("--brokers", help="bootstrap servers")
    p.add_argument("--kafka-dir", help="run dir of the broker scripts/kafka started (for its pid: CPU accounting)")
    p.add_argument("--bench-bin", default=str(BUILD / "bench/streamframe_bench_nexmark"))
    p.add_argument("--venv-python", default=sys.executable, help="python that runs the Quix peer")
    p.add_argument("--ks-run", type=Path, default=ROOT / "bench/peers/kafka-streams/run",
                   help="Kafka Streams peer's run script")
    p.add_argument("--quix-script", type=Path, default=ROOT / "bench/peers/quix/nexmark_quix.py")
    p.add_argument("--python-venv-python", default=str(ROOT / "build/python-venv/bin/python"),
                   help="python with the streamframe package (scripts/python-package) for the 'python' system")
    p.add_argument("--log-dir", help="default <build dir>/nexmark-logs/<timestamp> (build-bench unless "
                   "STREAMFRAME_BENCH_BUILD_DIR says otherwise)")
    p.add_argument("--keep-topics", action="store_true")
    p.add_argument("--report-only", type=Path, metavar="FILE.json",
                   help="re-render FILE.md, FILE.png and peers-latest.* from a results JSON; runs nothing")
    args = p.parse_args(argv)
    if args.report_only or args.compare:
        return args
    for w in args.workloads:
        if w not in WORKLOAD_KIND:
            p.error(f"unknown workload {w!r}")
    for s in args.systems:
        if s not in PEERS:
            p.error(f"unknown system {s!r}")
    if not args.brokers and not args.instructions_only:
        p.error("--brokers is required (scripts/bench --suite nexmark starts a broker)")
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be >= 1")
    needed = [Path(args.bench_bin)]
    if args.instructions_only:
        args.systems = []
    if "kafka-streams" in args.systems:
        needed.append(args.ks_run)
    if "quix" in args.systems or "python" in args.systems:
        needed.append(args.quix_script)
    if "python" in args.systems:
        needed.append(Path(args.python_venv_python))
    for f in needed:
        if not f.exists():
            p.error(f"{f} does not exist")
    if not args.log_dir:
        args.log_dir = str(BUILD / "nexmark-logs" / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.compare:
        base, new = (json.loads(f.read_text()) for f in args.compare)
        return 0 if print_instruction_comparison(base, new, str(args.compare[0]), str(args.compare[1])) else 1
    if args.instructions_only:
        return instructions_only(args)
    if args.report_only:
        res = json.loads(args.report_only.read_text())
        write_outputs(res, args.report_only.parent, json_path=args.report_only)
        print_table(res)
        return 0
    start = time.monotonic()
    suite = Suite(args)
    res = suite.results
    res["provenance"] = provenance(args)
    p = res["provenance"]
    log(f"streamframe {p['versions'].get('streamframe')} at {p['commit']}{' (dirty)' if p['dirty'] else ''}, "
        f"size {args.size}, {suite.runs} run(s), {args.partitions} partitions, logs in {rel(args.log_dir)}")
    if p["machine"]["load_at_start"][0] > 0.5:
        log(f"warning: load average {p['machine']['load_at_start'][0]} at the start: the machine is not idle")

    def on_term(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    steps = {}
    try:
        for name, step in (("generate", suite.generate), ("engine", suite.engine),
                           ("instructions", None if args.no_instructions else suite.instructions),
                           ("throughput", suite.throughput),
                           ("latency", None if args.no_latency else suite.latency)):
            if step is None:
                continue
            t = time.monotonic()
            step()
            steps[name] = round(time.monotonic() - t, 1)
            log(f"{name} done in {steps[name]:.1f} s")
    except KeyboardInterrupt:
        res["interrupted"] = True
        log("interrupted: stopping the program under test and writing partial results to the log dir")
    finally:
        suite.cleanup()
    res["step_seconds"] = steps
    res["total_seconds"] = round(time.monotonic() - start, 1)
    if res.get("interrupted"):
        write_outputs(res, Path(args.log_dir), json_path=Path(args.log_dir) / "partial.json", latest=False)
        return 130
    write_outputs(res, args.results_dir)
    print_table(res)
    log(f"suite done in {res['total_seconds']:.0f} s")
    failed = [r for r in res["throughput"] + res["latency"] if r["status"] != "ok"]
    disagree = [r for r in res["throughput"] if r["agreement"] == "FAILED"]
    if failed or disagree:
        log(f"{len(failed)} run(s) failed, {len(disagree)} disagree with the engine: see the report's notes")
        return 1
    return 0


def instructions_only(args) -> int:
    """The instructions step alone: no broker, no peers. Its JSON is what --compare reads."""
    profile = PROFILES[args.size]
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    prov = provenance(args)
    res = {"suite": "nexmark-instructions", "size": args.size, "partitions": args.partitions,
           "workloads": args.workloads, "provenance": prov, "log_dir": rel(log_dir),
           "instructions": count_workloads(args.bench_bin, args.workloads, profile["instructions_records"],
                                           args.partitions, log_dir)}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    dirty = "-dirty" if prov["dirty"] else ""
    path = args.results_dir / f"instructions-{prov['date'][:10]}-{prov['commit']}{dirty}-{args.size}.json"
    path.write_text(json.dumps(res, indent=1) + "\n")
    print_instructions(res)
    log(f"results: {rel(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
