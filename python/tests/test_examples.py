"""The Python examples run as documented (examples/python)."""

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


def test_quickstart_on_the_embedded_broker(tmp_path):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--duration", "2", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    match = re.search(r"^(\d+) readings, (\d+) alerts$", out, re.MULTILINE)
    assert match, out
    readings, alerts = int(match[1]), int(match[2])
    # About 2 % of the readings are hot (66-90 °C, all above 150 °F); no normal one is.
    assert readings > 1000
    assert 0 < alerts < readings * 0.05


def run_ml_features(tmp_path, *args):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "ml_features.py"), "--duration", "6", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, check=True,
    ).stdout
    counts = re.search(r"^(\d+) transactions, (\d+) scored$", out, re.MULTILINE)
    scores = re.search(r"fraudsters ([\d.]+), others ([\d.]+)$", out, re.MULTILINE)
    assert counts and scores, out
    return int(counts[1]), int(counts[2]), float(scores[1]), float(scores[2])


def check_ml_features(transactions, scored, fraud, normal):
    assert transactions > 300
    # Every transaction is scored, but for those still in flight when the run stops (the
    # generator runs until run() returns).
    assert transactions * 0.8 <= scored <= transactions
    # The model tells the fraudsters' bursts from everyone else's payments.
    assert fraud > 0.8 and normal < 0.2


def test_ml_features_on_the_embedded_broker(tmp_path):
    check_ml_features(*run_ml_features(tmp_path))


def test_ml_features_unchanged_on_a_real_broker(tmp_path, brokers):
    import uuid

    prefix = f"py-ml-{uuid.uuid4().hex[:8]}-"
    check_ml_features(*run_ml_features(tmp_path, "--broker", brokers, "--prefix", prefix))
