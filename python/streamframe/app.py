"""``Application`` with Quix Streams' arguments and units (PY-02): seconds as floats, guarantees
and offsets as strings. It builds the engine's application (``streamframe._core``); everything
after ``app.dataframe(...)`` is the engine's own classes."""

from datetime import timedelta
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from . import _core
from .kafka import ConnectionConfig
from .models import TopicConfig
from .sources import BaseSource, Source

ErrorCallback = Callable[[Exception, Optional[_core.Row], Any], bool]

# Quix arguments streamframe does not have (PY-05): refused when the Application is made.
_UNSUPPORTED_ARGS = (
    "quix_sdk_token",
    "quix_config_builder",
    "topic_manager",
    "rocksdb_options",
    "on_assign",
    "on_revoke",
    "on_lost",
)

_SERDE_NAMES = ("json", "bytes", "str", "string", "integer", "int", "double")


def _seconds_to_ms(value: Union[int, float, timedelta], name: str) -> int:
    if isinstance(value, timedelta):
        return round(value.total_seconds() * 1000)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _core.ConfigError(f"{name} takes seconds (int or float), not {type(value).__name__}")
    return round(value * 1000)


def _librdkafka_config(config: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """Quix passes librdkafka settings as Python values: booleans are "true" / "false" there."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (config or {}).items()}


def _serde(value: Any, name: str) -> Any:
    """A serde's name for the engine's native serdes, or the Python object to call."""
    if isinstance(value, str):
        if value not in _SERDE_NAMES:
            raise _core.ConfigError(
                f"{name}={value!r}: streamframe has the serdes {', '.join(_SERDE_NAMES)}, or "
                f"takes a Serializer / Deserializer object"
            )
        return value
    native = getattr(value, "_native_name", None)
    if native is not None and native() is not None:
        return native()
    if callable(value):
        return value
    raise _core.ConfigError(
        f"{name} takes a serde name or a callable Serializer / Deserializer, not "
        f"{type(value).__name__}"
    )


class Application:
    """One stream processing application: its topics, dataframes and run loop.

    ``broker_address`` is ``"host:port,..."`` of a Kafka cluster, ``"embedded"`` for the
    in-process broker (local runs and tests: no exactly-once, no admin API), a
    ``streamframe.kafka.ConnectionConfig`` for a secured cluster (TLS, SASL), or None to read
    ``STREAMFRAME_BROKER_ADDRESS``.
    """

    def __init__(
        self,
        broker_address: Union[str, ConnectionConfig, None] = None,
        *,
        consumer_group: Optional[str] = None,
        auto_offset_reset: str = "latest",
        commit_interval: float = 5.0,
        commit_every: int = 0,
        consumer_extra_config: Optional[Mapping[str, Any]] = None,
        producer_extra_config: Optional[Mapping[str, Any]] = None,
        state_dir: str = "state",
        on_consumer_error: Optional[ErrorCallback] = None,
        on_processing_error: Optional[ErrorCallback] = None,
        on_producer_error: Optional[ErrorCallback] = None,
        on_message_processed: Optional[Callable[[str, int, int], None]] = None,
        consumer_poll_timeout: float = 1.0,
        producer_poll_timeout: float = 0.0,
        loglevel: Optional[str] = "INFO",
        auto_create_topics: bool = True,
        use_changelog_topics: bool = True,
        request_timeout: float = 30,
        topic_create_timeout: float = 60,
        processing_guarantee: str = "at-least-once",
        max_partition_buffer_size: int = 10000,
        num_workers: int = 1,
        state_memory_budget: Optional[int] = None,
        log_format: str = "text",
        metrics_port: int = 0,
        metrics_bind_address: str = "0.0.0.0",
        liveness_timeout: float = 60,
        **unsupported: Any,
    ) -> None:
        for name in unsupported:
            if name in _UNSUPPORTED_ARGS:
                raise NotImplementedError(f"Application({name}=...) is not supported by streamframe")
            raise TypeError(f"Application() got an unexpected keyword argument {name!r}")
        self._has_dataframe = False
        self._has_sources = False
        self._app = _core.Application(
            broker_address=(broker_address or "") if not isinstance(
                broker_address, ConnectionConfig) else "",
            connection=broker_address.as_librdkafka_dict() if isinstance(
                broker_address, ConnectionConfig) else None,
            oauth_cb=broker_address.oauth_cb if isinstance(
                broker_address, ConnectionConfig) else None,
            consumer_group=consumer_group or "",
            state_dir=str(state_dir),
            auto_offset_reset=auto_offset_reset,
            processing_guarantee=processing_guarantee,
            commit_interval_ms=_seconds_to_ms(commit_interval, "commit_interval"),
            commit_every=commit_every,
            consumer_poll_timeout_ms=_seconds_to_ms(consumer_poll_timeout, "consumer_poll_timeout"),
            producer_poll_timeout_ms=_seconds_to_ms(producer_poll_timeout, "producer_poll_timeout"),
            request_timeout_ms=_seconds_to_ms(request_timeout, "request_timeout"),
            topic_create_timeout_ms=_seconds_to_ms(topic_create_timeout, "topic_create_timeout"),
            auto_create_topics=auto_create_topics,
            use_changelog_topics=use_changelog_topics,
            consumer_extra_config=_librdkafka_config(consumer_extra_config),
            producer_extra_config=_librdkafka_config(producer_extra_config),
            loglevel=loglevel,
            on_consumer_error=on_consumer_error,
            on_processing_error=on_processing_error,
            on_producer_error=on_producer_error,
            on_message_processed=on_message_processed,
            num_workers=num_workers,
            max_partition_buffer_size=max_partition_buffer_size,
            state_memory_budget=state_memory_budget,
            log_format=log_format,
            metrics_port=metrics_port,
            metrics_bind_address=metrics_bind_address,
            liveness_timeout_ms=_seconds_to_ms(liveness_timeout, "liveness_timeout"),
        )

    def topic(
        self,
        name: str,
        value_deserializer: Any = "json",
        key_deserializer: Any = "bytes",
        value_serializer: Any = "json",
        key_serializer: Any = "bytes",
        config: Optional[TopicConfig] = None,
        timestamp_extractor: Optional[Callable[[Any, Any, int, int], int]] = None,
    ) -> _core.Topic:
        """A topic with its serdes (by name: json, bytes, string, integer, double) and, for one
        that does not exist yet, the settings to create it with."""
        return self._app.topic(
            name,
            value_deserializer=_serde(value_deserializer, "value_deserializer"),
            key_deserializer=_serde(key_deserializer, "key_deserializer"),
            value_serializer=_serde(value_serializer, "value_serializer"),
            key_serializer=_serde(key_serializer, "key_serializer"),
            num_partitions=config.num_partitions if config else None,
            replication_factor=config.replication_factor if config else None,
            extra_config={k: str(v) for k, v in config.extra_config.items()} if config else None,
            timestamp_extractor=timestamp_extractor,
        )

    def dataframe(
        self, topic: Optional[_core.Topic] = None, source: Optional[Source] = None
    ) -> _core.StreamingDataFrame:
        """The root frame of ``topic``; with a ``source``, of the topic the source produces to
        (``topic`` if given, else the source's default topic ``source__<name>``)."""
        if source is not None:
            topic = self.add_source(source, topic)
        if topic is None:
            raise ValueError("one of `source` or `topic` is required")
        sdf = self._app.dataframe(topic)
        self._has_dataframe = True
        return sdf

    def add_source(self, source: Source, topic: Optional[_core.Topic] = None) -> _core.Topic:
        """Runs ``source`` while ``run()`` does, in a thread of its own, producing to ``topic``
        or else to its default topic (``source.default_topic()``, named ``source__<name>``).
        With dataframes the sources start once the first partitions are assigned; without,
        ``run()`` runs them until they all return, ``stop()`` or its ``timeout``. Returns the
        topic."""
        if not isinstance(source, Source):
            if isinstance(source, BaseSource):
                raise NotImplementedError(
                    "BaseSource is not supported by streamframe: subclass "
                    "streamframe.sources.Source"
                )
            raise TypeError(
                f"add_source() takes a streamframe.sources.Source, not {type(source).__name__}"
            )
        impl = source._impl_for()
        if topic is None:
            spec = source.default_topic()
            topic = self.topic(
                f"source__{spec.name}",
                value_deserializer=getattr(spec, "value_deserializer", "json"),
                key_deserializer=getattr(spec, "key_deserializer", "bytes"),
                value_serializer=getattr(spec, "value_serializer", "json"),
                key_serializer=getattr(spec, "key_serializer", "bytes"),
                config=getattr(spec, "create_config", None),
                timestamp_extractor=getattr(spec, "timestamp_extractor", None),
            )
        topic = self._app.add_source(impl, source, topic)
        source._producer_topic = topic
        self._has_sources = True
        return topic

    def run(
        self,
        dataframe: Optional[_core.StreamingDataFrame] = None,
        timeout: float = 0.0,
        count: int = 0,
        collect: bool = True,
        metadata: bool = False,
    ) -> List[Dict[str, Any]]:
        """Runs until stopped (``app.stop()``, SIGINT or SIGTERM), or until ``count`` outputs or
        ``timeout`` seconds without a new message, whichever comes first. With either, returns
        the outputs when ``collect`` (values; with ``metadata`` also ``_key``, ``_timestamp``,
        ``_headers``, ``_topic``, ``_partition``, ``_offset``); otherwise an empty list.
        The GIL is released while the engine runs; Python callables take it for their calls."""
        del dataframe  # Quix's older signature: every dataframe of the app runs
        if count and self._has_sources and not self._has_dataframe:
            raise ValueError(
                "Can only provide a timeout to .run() when running a plain Source (no "
                "StreamingDataFrame)."
            )
        bounded = count > 0 or timeout > 0
        result = self._app.run(count=count, timeout=float(timeout), metadata=metadata,
                               collect=collect and bounded)
        return result if result is not None else []

    def stop(self, fail: bool = False) -> None:
        """Stops run() after a final checkpoint (none with ``fail``). Thread-safe."""
        self._app.stop(fail)

    def get_producer(self) -> _core.Producer:
        return self._app.get_producer()

    def clear_state(self) -> None:
        self._app.clear_state()

    def delete_internal_topics(self) -> List[str]:
        return self._app.delete_internal_topics()

    def get_consumer(self, auto_commit_enable: bool = True) -> _core.Consumer:
        """A consumer in the application's consumer group, with its broker address,
        auto_offset_reset and consumer_extra_config, for reading topics outside the pipeline
        (e.g. a test reading what the pipeline wrote). Offsets are committed only once stored
        (``store_offsets(message)``): by the auto-commit when ``auto_commit_enable``, and on
        ``close()`` / leaving a ``with`` block, or at once with ``commit()``."""
        return self._app.get_consumer(auto_commit_enable=auto_commit_enable)
