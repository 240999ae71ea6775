"""Fixtures of the Python package's tests.

Tests marked ``kafka`` need a real broker: STREAMFRAME_TEST_BROKERS (host:port), which
scripts/test sets after starting one with scripts/kafka. Without it they are skipped, unless
STREAMFRAME_PYTEST_REQUIRE_BROKER=1 (scripts/test sets it), when a missing broker is a failure.
"""

import itertools
import os
import subprocess
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


@pytest.fixture
def pg():
    """The test PostgreSQL (STREAMFRAME_TEST_POSTGRES; user, password and database
    ``streamframe``): (host, port, psql), where psql(sql) runs SQL and returns its rows as lists
    of str (unaligned, tab-separated)."""
    address = os.environ.get("STREAMFRAME_TEST_POSTGRES")
    if not address:
        if os.environ.get("STREAMFRAME_PYTEST_REQUIRE_BROKER") == "1":
            pytest.fail("STREAMFRAME_TEST_POSTGRES is not set (scripts/test sets it)")
        pytest.skip("no PostgreSQL: set STREAMFRAME_TEST_POSTGRES (scripts/postgres start)")
    host, port = address.rsplit(":", 1)

    def psql(sql):
        env = dict(os.environ, PGPASSWORD="streamframe")
        out = subprocess.run(["psql", "-h", host, "-p", port, "-U", "streamframe", "-d",
                              "streamframe", "-v", "ON_ERROR_STOP=1", "-qAtF", "\t", "-c", sql],
                             env=env, check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines()]

    return host, int(port), psql


@pytest.fixture
def schema_registry():
    """The test schema registry's Confluent-compatible API (STREAMFRAME_TEST_SCHEMA_REGISTRY,
    Apicurio Registry from scripts/registry, in memory): (url, user_info), user_info the
    "user:password" of its basic authentication (STREAMFRAME_TEST_SCHEMA_REGISTRY_USER_INFO,
    None without)."""
    url = os.environ.get("STREAMFRAME_TEST_SCHEMA_REGISTRY")
    if not url:
        if os.environ.get("STREAMFRAME_PYTEST_REQUIRE_BROKER") == "1":
            pytest.fail("STREAMFRAME_TEST_SCHEMA_REGISTRY is not set (scripts/test sets it)")
        pytest.skip("no schema registry: set STREAMFRAME_TEST_SCHEMA_REGISTRY (scripts/registry)")
    return url, os.environ.get("STREAMFRAME_TEST_SCHEMA_REGISTRY_USER_INFO") or None


@pytest.fixture
def mqtt():
    """The test MQTT broker (STREAMFRAME_TEST_MQTT, anonymous): (host, port)."""
    address = os.environ.get("STREAMFRAME_TEST_MQTT")
    if not address:
        if os.environ.get("STREAMFRAME_PYTEST_REQUIRE_BROKER") == "1":
            pytest.fail("STREAMFRAME_TEST_MQTT is not set (scripts/test sets it)")
        pytest.skip("no MQTT broker: set STREAMFRAME_TEST_MQTT (scripts/mosquitto start)")
    host, port = address.rsplit(":", 1)
    return host, int(port)
