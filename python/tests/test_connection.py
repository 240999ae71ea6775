"""APP-17 from Python: ``ConnectionConfig`` as Quix Streams has it, and a secured broker
(scripts/kafka start --secured, which scripts/test starts with one broker)."""

import base64
import json
import os
import threading
import time

import pytest

import streamframe as sf
from streamframe.kafka import ConnectionConfig


def test_connection_config_maps_to_librdkafka_and_hides_secrets():
    c = ConnectionConfig(bootstrap_servers="b:9093", security_protocol="sasl_ssl",
                         sasl_mechanism="SCRAM-SHA-512", sasl_username="alice",
                         sasl_password="s3cret", ssl_ca_location="/ca.crt",
                         enable_ssl_certificate_verification=True)
    assert c.as_librdkafka_dict() == {
        "bootstrap.servers": "b:9093", "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "s3cret",
        "ssl.ca.location": "/ca.crt", "enable.ssl.certificate.verification": "true"}
    assert c.as_librdkafka_dict(plaintext_secrets=False)["sasl.password"] == "***"
    assert "s3cret" not in repr(c)
    back = ConnectionConfig.from_librdkafka_dict(
        {"bootstrap.servers": "b:1", "sasl.mechanisms": "PLAIN", "client.rack": "r1"})
    assert back.sasl_mechanism == "PLAIN" and back.extra == {"client.rack": "r1"}
    assert ConnectionConfig.from_librdkafka_dict({"bootstrap.servers": "b:1", "x.y": "z"},
                                                 ignore_extras=True).extra == {}
    with_cb = ConnectionConfig(bootstrap_servers="b:1", oauth_cb=lambda cfg: ("token", 0.0))
    assert "oauth_cb" not in with_cb.as_librdkafka_dict() and "oauth_cb" not in repr(with_cb)
    # A token callback without OAUTHBEARER cannot work.
    with pytest.raises(sf.ConfigError, match="OAUTHBEARER"):
        sf.Application(broker_address=ConnectionConfig(
            bootstrap_servers="b:1", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
            sasl_username="u", sasl_password="p", oauth_cb=lambda cfg: ("t", 0.0)),
            consumer_group="g")
    # Settings that cannot work are refused when the Application is made.
    with pytest.raises(sf.ConfigError, match="security_protocol"):
        sf.Application(broker_address=ConnectionConfig(
            bootstrap_servers="b:1", sasl_mechanism="PLAIN", sasl_username="u",
            sasl_password="p"), consumer_group="g")


@pytest.fixture
def secured():
    address = os.environ.get("STREAMFRAME_TEST_SECURED_BROKERS")
    ca = os.environ.get("STREAMFRAME_TEST_KAFKA_CA")
    if not address or not ca:
        pytest.skip("no secured broker (scripts/kafka start --secured; scripts/test starts one "
                    "with a single broker)")
    return address, ca


def test_scram_over_tls_end_to_end(secured, name):
    address, ca = secured
    conn = ConnectionConfig(bootstrap_servers=address, security_protocol="SASL_SSL",
                            sasl_mechanism="SCRAM-SHA-256", sasl_username="alice",
                            sasl_password="alice-secret", ssl_ca_location=ca)
    app = sf.Application(broker_address=conn, consumer_group=name("group"),
                         auto_offset_reset="earliest")
    topic = app.topic(name("in"))
    with app.get_producer() as producer:
        producer.produce(topic.name, key=b"k", value=b'{"i": 7}')
    app.dataframe(topic)
    assert app.run(count=1, timeout=30) == [{"i": 7}]


def test_a_wrong_password_is_an_authentication_error(secured, name):
    address, ca = secured
    conn = ConnectionConfig(bootstrap_servers=address, security_protocol="SASL_SSL",
                            sasl_mechanism="SCRAM-SHA-512", sasl_username="alice",
                            sasl_password="not-the-password", ssl_ca_location=ca)
    with pytest.raises(sf.KafkaAuthenticationError, match="Authentication failed") as error:
        app = sf.Application(broker_address=conn, consumer_group=name("group"),
                             request_timeout=10)
        app.topic(name("in"))
    assert address in str(error.value)
    assert "not-the-password" not in str(error.value)
    assert isinstance(error.value, sf.KafkaError)


def _unsecured_jwt(principal, lifetime):
    """An unsigned JWT the secured broker's unsecured validator accepts, and its expiry."""
    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    now = int(time.time())
    token = f'{b64({"alg": "none"})}.{b64({"sub": principal, "iat": now, "exp": now + lifetime})}.'
    return token, float(now + lifetime)


def _oauth(address, ca, oauth_cb):
    return ConnectionConfig(bootstrap_servers=address, security_protocol="SASL_SSL",
                            sasl_mechanism="OAUTHBEARER", sasl_oauthbearer_config="scope=streams",
                            ssl_ca_location=ca, oauth_cb=oauth_cb)


def test_oauth_cb_tokens_authenticate_end_to_end(secured, name):
    address, ca = secured
    calls = []

    def oauth_cb(config):
        calls.append((config, threading.current_thread() is threading.main_thread()))
        return _unsecured_jwt("alice", 60)

    app = sf.Application(broker_address=_oauth(address, ca, oauth_cb),
                         consumer_group=name("group"), auto_offset_reset="earliest")
    topic = app.topic(name("in"))
    with app.get_producer() as producer:
        producer.produce(topic.name, key=b"k", value=b'{"i": 7}')
    app.dataframe(topic)
    assert app.run(count=1, timeout=30) == [{"i": 7}]
    assert calls and all(config == "scope=streams" for config, _ in calls)
    # librdkafka's thread calls it, not the one that made the clients.
    assert not any(on_main for _, on_main in calls)
    del app  # destroying the clients while a refresh could be due must not deadlock


def test_an_oauth_cb_that_raises_is_an_authentication_error(secured, name):
    address, ca = secured

    def oauth_cb(config):
        raise RuntimeError("token service at idp.example is down")

    started = time.monotonic()
    with pytest.raises(sf.KafkaAuthenticationError, match="idp.example is down") as error:
        app = sf.Application(broker_address=_oauth(address, ca, oauth_cb),
                             consumer_group=name("group"), request_timeout=10)
        app.dataframe(app.topic(name("in")))
        app.run(timeout=5)
    assert time.monotonic() - started < 15
    assert address in str(error.value)


def test_an_oauth_cb_with_a_wrong_answer_is_an_authentication_error(secured, name):
    address, ca = secured
    with pytest.raises(sf.KafkaAuthenticationError, match="oauth_cb must return"):
        app = sf.Application(broker_address=_oauth(address, ca, lambda config: "just-a-token"),
                             consumer_group=name("group"), request_timeout=10)
        app.topic(name("in"))
