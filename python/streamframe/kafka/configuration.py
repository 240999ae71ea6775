"""``ConnectionConfig``: the typed connection of a secured cluster (TLS, SASL), with Quix
Streams' field names, passed as ``Application(broker_address=ConnectionConfig(...))``.

The engine maps it onto librdkafka's settings for every client the application makes. Fields
are librdkafka's names with ``_`` for ``.``; ``sasl_mechanisms`` is accepted for
``sasl_mechanism``. Secrets (``sasl_password``, ``ssl_key_password``,
``sasl_oauthbearer_client_secret``) never appear in ``repr()``.

``oauth_cb`` supplies OAUTHBEARER tokens as in confluent-kafka: called with
``sasl_oauthbearer_config``, it returns ``(token, expiry)`` (expiry in seconds since the epoch)
or ``(token, expiry, principal, extensions)``. It is called on a librdkafka thread before each
client's first connection and at 80 % of each token's lifetime; when it raises, the application
stops with ``KafkaAuthenticationError`` carrying its message.
"""

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, Optional

__all__ = ("ConnectionConfig",)

_SECRETS = {"sasl_password", "ssl_key_password", "sasl_oauthbearer_client_secret",
            "ssl_keystore_password"}


@dataclass
class ConnectionConfig:
    bootstrap_servers: str
    security_protocol: Optional[str] = None
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[str] = None
    sasl_oauthbearer_config: Optional[str] = None
    enable_sasl_oauthbearer_unsecure_jwt: Optional[bool] = None
    sasl_oauthbearer_method: Optional[str] = None
    sasl_oauthbearer_client_id: Optional[str] = None
    sasl_oauthbearer_client_secret: Optional[str] = None
    sasl_oauthbearer_scope: Optional[str] = None
    sasl_oauthbearer_token_endpoint_url: Optional[str] = None
    ssl_ca_location: Optional[str] = None
    ssl_certificate_location: Optional[str] = None
    ssl_key_location: Optional[str] = None
    ssl_key_password: Optional[str] = None
    enable_ssl_certificate_verification: Optional[bool] = None
    ssl_endpoint_identification_algorithm: Optional[str] = None
    oauth_cb: Optional[Callable[[str], Any]] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "oauth_cb" or (f.name == "extra" and not value):
                continue
            shown.append(f"{f.name}={'***' if f.name in _SECRETS else repr(value)}")
        return f"ConnectionConfig({', '.join(shown)})"

    @classmethod
    def from_librdkafka_dict(cls, config: dict, ignore_extras: bool = False) -> "ConnectionConfig":
        """From librdkafka settings (``{"bootstrap.servers": ..., "sasl.mechanism": ...}``).
        Settings that are not connection fields go to ``extra`` (dropped with
        ``ignore_extras=True``)."""
        known = {f.name for f in fields(cls)} - {"extra", "oauth_cb"}
        kwargs: Dict[str, Any] = {}
        extra: Dict[str, Any] = {}
        for name, value in config.items():
            key = name.replace(".", "_")
            if key == "sasl_mechanisms":
                key = "sasl_mechanism"
            if key in known:
                kwargs[key] = value
            elif not ignore_extras:
                extra[name] = value
        return cls(**kwargs, extra=extra)

    def as_librdkafka_dict(self, plaintext_secrets: bool = True) -> dict:
        """The librdkafka settings (secrets as ``***`` unless ``plaintext_secrets``)."""
        out: Dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name in ("extra", "oauth_cb"):
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            if f.name in _SECRETS and not plaintext_secrets:
                value = "***"
            out[f.name.replace("_", ".")] = str(value)
        for name, value in self.extra.items():
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out
