"""Fixtures of the Python package's tests.

Tests marked ``kafka`` need a real broker: STREAMFRAME_TEST_BROKERS (host:port), which
scripts/test sets after starting one with scripts/kafka. Without it they are skipped, unless
STREAMFRAME_PYTEST_REQUIRE_BROKER=1 (scripts/test sets it), when a missing broker is a failure.
"""

import itertools
import os
import uuid

import pytest

import streamframe as sf

_names = itertools.count()


@pytest.fixture
def name():
    """A fresh topic or group name per call, unique across runs on one broker."""
    run = uuid.uuid4().hex[:8]
    return lambda prefix="t": f"py-{prefix}-{run}-{next(_names)}"


@pytest.fixture
def embedded_app(tmp_path, name):
    """An Application on the embedded broker, reading from the start."""

    def make(**kwargs):
        kwargs.setdefault("consumer_group", name("g"))
        kwargs.setdefault("auto_offset_reset", "earliest")
        kwargs.setdefault("state_dir", str(tmp_path / "state"))
        kwargs.setdefault("loglevel", "ERROR")
        return sf.Application("embedded", **kwargs)

    return make


@pytest.fixture(scope="session")
def brokers():
    address = os.environ.get("STREAMFRAME_TEST_BROKERS")
    if not address:
        if os.environ.get("STREAMFRAME_PYTEST_REQUIRE_BROKER") == "1":
            pytest.fail("STREAMFRAME_TEST_BROKERS is not set, and a broker is required")
        pytest.skip("no broker: set STREAMFRAME_TEST_BROKERS (scripts/test does)")
    return address
