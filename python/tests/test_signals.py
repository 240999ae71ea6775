"""SIGINT and SIGTERM (PY-05, APP-21): the first stops run() gracefully, after the Python
callable running at that moment returns; a second SIGINT raises KeyboardInterrupt."""

import signal
import subprocess
import sys
import time

import pytest

PROGRAM = r"""
import sys, time
import streamframe as sf

app = sf.Application("embedded", consumer_group="signals", auto_offset_reset="earliest",
                     state_dir=sys.argv[1], loglevel="ERROR")
topic = app.topic("in")

def slow(value):
    print("callable started", flush=True)
    time.sleep(float(sys.argv[2]))
    print("callable returned", flush=True)
    return value

app.dataframe(topic).apply(slow)
with app.get_producer() as producer:
    producer.produce("in", value=b"{}")
try:
    app.run()
    print("run returned", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
"""


def start(tmp_path, sleep_s):
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, str(tmp_path / "state"), str(sleep_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()
    assert line == "callable started\n", line
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_stops_after_the_running_callable_returns(tmp_path, sig):
    proc = start(tmp_path, 1.0)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    lines = [line for line in out.splitlines() if not line.startswith("[")]
    assert lines == ["callable returned", "run returned"]


def test_a_second_sigint_is_keyboard_interrupt(tmp_path):
    proc = start(tmp_path, 2.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    lines = [line for line in out.splitlines() if not line.startswith("[")]
    assert lines == ["callable returned", "KeyboardInterrupt"]
