"""APP-17 from Python: ``ConnectionConfig`` as Quix Streams has it, and a secured broker
(scripts/kafka start --secured, which scripts/test starts with one broker)."""

import os

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
    with pytest.raises(NotImplementedError, match="oauth_cb"):
        ConnectionConfig(bootstrap_servers="b:1", oauth_cb=lambda cfg: ("token", 0.0))
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
