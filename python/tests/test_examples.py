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
