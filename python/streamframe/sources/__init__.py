"""Sources with Quix Streams' names (``quixstreams.sources``): code that brings data into Kafka
from somewhere else (SRC-01..04).

Subclass ``Source``, implement ``run()`` (a loop that fetches data while ``self.running`` and
calls ``self.produce(...)``), and hand it to ``app.dataframe(source=...)`` or
``app.add_source(...)``::

    class Counter(Source):
        def run(self):
            i = 0
            while self.running and i < 100:
                msg = self.serialize(key=f"k{i}", value={"i": i})
                self.produce(key=msg.key, value=msg.value)
                i += 1

    sdf = app.dataframe(source=Counter(name="counter"))   # reads topic "source__counter"

Δ from Quix Streams: a source runs in a thread of the application's process, not in a
subprocess. Its methods run with the GIL held (``produce()`` and ``flush()`` release it while
they wait); ``stop()`` is called from the thread that runs ``app.run()``, and a source that
has not returned ``shutdown_timeout`` seconds later is left running in the background (a thread
cannot be killed) with an ERROR log, and ``run()`` returns. A source's producer is its own and
never transactional, whatever ``processing_guarantee``.
"""

import atexit
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from .. import _core
from .._core import SourceException
from ..models import TopicConfig
from ..models.messages import Headers, KafkaMessage

__all__ = [
    "BaseSource",
    "ClientConnectSuccessCallback",
    "ClientConnectFailureCallback",
    "CSVSource",
    "KafkaReplicatorSource",
    "QuixEnvironmentSource",
    "Source",
    "SourceException",
    "SourceManager",
    "SourceState",
    "SourceTopic",
    "StatefulSource",
]

logger = logging.getLogger("streamframe.sources")

ClientConnectSuccessCallback = Callable[[], None]
ClientConnectFailureCallback = Callable[[Optional[Exception]], None]

# Quix Streams' producer defaults; streamframe's produce() takes them and has no use for them
# (a full local queue makes it wait for deliveries).
PRODUCER_POLL_TIMEOUT = 30.0
PRODUCER_ON_ERROR_RETRIES = 10


def _default_on_client_connect_success() -> None:
    logger.info("CONNECTED!")


def _default_on_client_connect_failure(exception: Exception) -> None:
    logger.error(f"ERROR: Failed while connecting to client: {exception}")
    raise exception


@dataclass
class SourceTopic:
    """What ``Source.default_topic()`` returns: the topic a source produces to when it was given
    none. ``app.add_source()`` declares it as ``app.topic("source__" + name, ...)`` with these
    serdes (Quix Streams returns a ``Topic`` here; a streamframe ``Topic`` comes from an
    application, which a source does not have yet)."""

    name: str
    value_deserializer: Any = "json"
    key_deserializer: Any = "bytes"
    value_serializer: Any = "json"
    key_serializer: Any = "bytes"
    create_config: Optional[TopicConfig] = None
    timestamp_extractor: Optional[Callable[..., int]] = None


class BaseSource:
    """Quix Streams' most basic source interface (``start()`` / ``stop()`` /
    ``default_topic()`` with a raw confluent-kafka producer). Not supported by streamframe:
    subclass ``Source`` instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not isinstance(self, Source):
            raise NotImplementedError(
                "BaseSource is not supported by streamframe: subclass streamframe.sources.Source"
            )


class Source(BaseSource):
    """A base class for custom sources: subclass it and implement ``run()``.

    Lifecycle, on the source's thread: ``setup()`` and the ``on_client_connect_success``
    callback (an exception of either goes to ``on_client_connect_failure``, which re-raises it
    unless given one that resolves it), ``run()``, then ``cleanup(failed)``, which flushes the
    producer unless ``run()`` raised. An exception out of a source stops the application
    gracefully, after which ``app.run()`` raises ``SourceException`` from it.

    Helpers: ``serialize()``, ``produce()``, ``flush()``, ``running``.
    """

    def __init__(
        self,
        name: str,
        shutdown_timeout: float = 10,
        on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
        on_client_connect_failure: Optional[ClientConnectFailureCallback] = None,
    ) -> None:
        """
        :param name: the source's unique name; its default topic is ``source__<name>``.
        :param shutdown_timeout: seconds the application waits for the source to return from
            ``run()`` after ``stop()``.
        :param on_client_connect_success: called after ``setup()`` succeeded.
        :param on_client_connect_failure: called with the exception of a failed ``setup()``;
            it resolves it (returns: ``run()`` goes ahead) or raises.
        """
        super().__init__()
        self.name = name
        self.shutdown_timeout = shutdown_timeout
        self._on_client_connect_success = (
            on_client_connect_success or _default_on_client_connect_success
        )
        self._on_client_connect_failure = (
            on_client_connect_failure or _default_on_client_connect_failure
        )
        self._impl: Optional[_core.SourceImpl] = None
        self._producer_topic: Optional[_core.Topic] = None

    # -- what a subclass implements or overrides ------------------------------------------

    def run(self) -> None:
        """Fetches data and produces it; return when ``self.running`` turns False (or when
        there is no more data: a source that ends is not an error)."""
        raise NotImplementedError(f"{type(self).__name__}.run()")

    def setup(self) -> None:
        """Connects to what the source reads, before ``run()``; raise if that fails."""
        return

    def cleanup(self, failed: bool) -> None:
        """After ``run()``: flushes the producer (up to half the shutdown timeout) unless
        ``failed``."""
        if not failed:
            self.flush(self.shutdown_timeout / 2)

    def stop(self) -> None:
        """Called when the application stops, from the thread running ``app.run()``:
        ``running`` turns False. An override must call ``super().stop()``."""
        if self._impl is not None:
            self._impl.stop()

    def default_topic(self) -> SourceTopic:
        """The topic to produce to when the application gives none: ``source__<name>`` (the
        application adds the prefix) with JSON values and bytes keys."""
        return SourceTopic(name=self.name, value_deserializer="json", value_serializer="json")

    # -- helpers ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from the source's start until ``stop()``."""
        return self._impl is not None and self._impl.running

    @property
    def _running(self) -> bool:  # Quix Streams' attribute, which some sources set themselves
        return self.running

    @_running.setter
    def _running(self, value: bool) -> None:
        if not value and getattr(self, "_impl", None) is not None:
            self._impl.stop()

    @property
    def producer_topic(self) -> _core.Topic:
        if self._producer_topic is None:
            raise RuntimeError("source not configured")
        return self._producer_topic

    def serialize(
        self,
        key: Optional[object] = None,
        value: Optional[object] = None,
        headers: Optional[Headers] = None,
        timestamp_ms: Optional[int] = None,
    ) -> KafkaMessage:
        """Serializes a key and a value with the topic's serializers: a ``KafkaMessage`` with
        ``key`` and ``value`` as bytes (None stays None), the headers and the timestamp."""
        k, v, h = self._configured().serialize(key, value, headers, timestamp_ms)
        return KafkaMessage(key=k, value=v, headers=h, timestamp=timestamp_ms)

    def produce(
        self,
        value: Optional[Union[str, bytes]] = None,
        key: Optional[Union[str, bytes]] = None,
        headers: Optional[Headers] = None,
        partition: Optional[int] = None,
        timestamp: Optional[int] = None,
        poll_timeout: float = PRODUCER_POLL_TIMEOUT,
        buffer_error_max_tries: int = PRODUCER_ON_ERROR_RETRIES,
    ) -> None:
        """Produces a record of raw bytes (or str) to the source's topic. ``partition`` None =
        by key; ``timestamp`` None = now. Waits while the local queue is full; a failed delivery
        raises ``KafkaError`` from a later ``produce()`` or ``flush()``. ``poll_timeout`` and
        ``buffer_error_max_tries`` are accepted and not used."""
        del poll_timeout, buffer_error_max_tries
        self._configured().produce(value, key, headers, partition, timestamp)

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until everything produced is acknowledged, up to ``timeout`` seconds (None:
        no limit). Raises ``CheckpointProducerTimeout`` when the time runs out, ``KafkaError``
        when a delivery failed."""
        self._configured().flush(timeout)

    def _configured(self) -> "_core.SourceImpl":
        impl = getattr(self, "_impl", None)
        if impl is None:
            raise _core.InvalidOperation(
                f"source '{getattr(self, 'name', '?')}' has no topic before it is added to an "
                "application"
            )
        return impl

    def _impl_for(self) -> "_core.SourceImpl":
        """The engine's side, made when the source is first added to an application."""
        if not hasattr(self, "_on_client_connect_failure"):
            raise TypeError(
                f"{type(self).__name__}.__init__ must call super().__init__(name=...)"
            )
        if self._impl is None:
            self._impl = self._make_impl()
        return self._impl

    def _make_impl(self) -> "_core.SourceImpl":
        return _core.SourceImpl(self, str(self.name), round(float(self.shutdown_timeout) * 1000))

    def __repr__(self) -> str:
        return str(self.name)


class _NotSupported:
    """A Quix Streams source streamframe does not have yet (PY-05): it fails when made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} is not supported by streamframe yet")


class SourceState:
    """A StatefulSource's state (``source.state``): keys and values are JSON-able Python values,
    kept in memory and written to the source's changelog topic at each ``flush()``."""

    __slots__ = ("_impl",)

    def __init__(self, impl: "_core.SourceImpl") -> None:
        self._impl = impl

    def get(self, key: Any, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        return self._impl.state_get(key, default)

    def set(self, key: Any, value: Any) -> None:
        self._impl.state_set(key, value)

    def delete(self, key: Any) -> None:
        """Removes ``key`` (nothing happens when it is not there)."""
        self._impl.state_delete(key)

    def exists(self, key: Any) -> bool:
        return self._impl.state_exists(key)


class StatefulSource(Source):
    """A source with state that survives restarts (SRC-03), e.g. the position it read up to::

        class Numbers(StatefulSource):
            def run(self):
                n = self.state.get("next", 0)
                while self.running:
                    self.produce(value=str(n))
                    n += 1
                    self.state.set("next", n)
                    if n % 1000 == 0:
                        self.flush()   # the records, then the state that counts them

    The state is restored before ``setup()`` from the compacted changelog topic
    ``changelog__<consumer_group>--source__<name>--default`` (one partition). ``flush()``
    makes the produced records durable first and then what changed in the state, so after a
    failure the source resumes from its last flush and may produce the records after it again
    (at-least-once). ``cleanup()`` flushes when ``run()`` returned without an error.
    """

    @property
    def state(self) -> SourceState:
        """The source's state; available from the moment the source was added to an
        application (reads and writes from the source's thread)."""
        return SourceState(self._configured())

    @property
    def store_partitions_count(self) -> int:
        return 1

    @property
    def assigned_store_partition(self) -> int:
        return 0

    @property
    def store_name(self) -> str:
        return f"source-{self.name}"

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until everything produced is acknowledged, then writes what changed in the
        state to its changelog and waits for that too, up to ``timeout`` seconds (None: no
        limit). Raises ``CheckpointProducerTimeout`` when the time runs out."""
        super().flush(timeout)

    def _make_impl(self) -> "_core.SourceImpl":
        return _core.SourceImpl(
            self, str(self.name), round(float(self.shutdown_timeout) * 1000), stateful=True
        )


class CSVSource(Source):
    """Produces the rows of a CSV file (SRC-05) to its topic, in file order, then returns: each
    row after the header as a dict of str ``{column: field}`` (JSON values, str keys).

    The file is read by the engine (libcsv), not Python's ``csv`` module; ``key_extractor`` and
    ``timestamp_extractor`` are called with each row (a dict of str) in the source's thread,
    with the GIL held.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        name: str,
        key_extractor: Optional[Callable[[dict], Union[str, bytes]]] = None,
        timestamp_extractor: Optional[Callable[[dict], int]] = None,
        delay: float = 0,
        shutdown_timeout: float = 10,
        dialect: str = "excel",
    ) -> None:
        """
        :param path: the CSV file; its first row names the columns.
        :param name: the source's unique name; its default topic is ``source__<name>``.
        :param key_extractor: row -> the record's key (str or bytes); None: no keys.
        :param timestamp_extractor: row -> the record's timestamp in ms; None: now.
        :param delay: seconds to wait after each row, to replay a file as a stream.
        :param shutdown_timeout: seconds the application waits for the source after ``stop()``.
        :param dialect: ``"excel"`` (comma), ``"excel-tab"`` (tab) or ``"unix"`` (comma); the
            quote character is ``"`` in each. Any other raises ``ConfigError`` when the source
            is added.
        """
        self.path = path
        self.delay = delay
        self.dialect = dialect
        self.key_extractor = key_extractor
        self.timestamp_extractor = timestamp_extractor
        super().__init__(name=name, shutdown_timeout=shutdown_timeout)

    def run(self) -> None:
        """Run by the engine: the Python method is not called."""
        raise NotImplementedError("CSVSource.run() is run by the engine")

    def default_topic(self) -> SourceTopic:
        return SourceTopic(
            name=self.name,
            key_serializer="string",
            key_deserializer="string",
            value_serializer="json",
            value_deserializer="json",
        )

    def _make_impl(self) -> "_core.SourceImpl":
        if self.dialect not in ("excel", "excel-tab", "unix"):
            raise _core.ConfigError(
                f"CSVSource: unknown dialect {self.dialect!r} (streamframe has 'excel', "
                "'excel-tab' and 'unix')"
            )
        return _core._csv_source(
            os.fspath(self.path),
            str(self.name),
            self.key_extractor,
            self.timestamp_extractor,
            float(self.delay),
            float(self.shutdown_timeout),
            self.dialect,
        )


class KafkaReplicatorSource(Source):
    """Copies ``topic`` of another Kafka cluster (``broker_address``) into this application's
    cluster, message for message (key, value, headers, timestamp, partition), run by the engine.

    The consumer group ``source-<name>`` on the other cluster holds its own committed offsets,
    committed after the copies are acknowledged (at-least-once). The copies go to
    ``source__<name>``, created with the other topic's partition count.

    Δ from Quix Streams: the offsets are committed on the other cluster (Quix keeps them in
    the group ``source-<name>-offsets`` of the application's cluster); ``app_config`` gives
    the commit interval and count only; ``value_deserializer`` / ``key_deserializer`` are serde
    names (``"json"``, ``"bytes"``, ...); ``consumer_poll_timeout`` and ``on_consumer_error`` are
    not supported (a consumer error fails the source)."""

    def __init__(self, name: str, app_config: Any, topic: str, broker_address: str,
                 auto_offset_reset: Optional[str] = "latest",
                 consumer_extra_config: Optional[dict] = None,
                 consumer_poll_timeout: Optional[float] = None, shutdown_timeout: float = 10,
                 on_consumer_error: Optional[Callable[..., Any]] = None,
                 value_deserializer: str = "json", key_deserializer: str = "bytes",
                 on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None
                 ) -> None:
        for arg, given in (("consumer_poll_timeout", consumer_poll_timeout),
                           ("on_consumer_error", on_consumer_error),
                           ("on_client_connect_success", on_client_connect_success),
                           ("on_client_connect_failure", on_client_connect_failure)):
            if given is not None:
                raise NotImplementedError(
                    f"KafkaReplicatorSource({arg}=...): not supported by streamframe")
        if not isinstance(broker_address, str):
            raise NotImplementedError("KafkaReplicatorSource(broker_address=...): a str of "
                                      "bootstrap servers (ConnectionConfig is not supported)")
        for arg, serde in (("value_deserializer", value_deserializer),
                           ("key_deserializer", key_deserializer)):
            if not isinstance(serde, str):
                raise NotImplementedError(f"KafkaReplicatorSource({arg}=...): a serde name")
        self._args = dict(
            topic=topic, broker_address=broker_address,
            auto_offset_reset=auto_offset_reset or "latest",
            consumer_extra_config={str(k): str(v)
                                   for k, v in (consumer_extra_config or {}).items()},
            commit_interval=float(getattr(app_config, "commit_interval", 5.0) or 5.0),
            commit_every=int(getattr(app_config, "commit_every", 0) or 0),
            value_deserializer=value_deserializer, key_deserializer=key_deserializer)
        super().__init__(name=name, shutdown_timeout=shutdown_timeout)

    def run(self) -> None:
        """Run by the engine: the Python method is not called."""
        raise NotImplementedError("KafkaReplicatorSource.run() is run by the engine")

    def default_topic(self) -> SourceTopic:
        """``source__<name>`` with the other topic's partition count (asked of the other
        cluster), bytes serializers, and the deserializers given."""
        partitions = _core._engine_source_partitions(self._impl_for())
        return SourceTopic(name=self.name, key_serializer="bytes", value_serializer="bytes",
                           key_deserializer=self._args["key_deserializer"],
                           value_deserializer=self._args["value_deserializer"],
                           create_config=TopicConfig(num_partitions=partitions,
                                                     replication_factor=1))

    def _make_impl(self) -> "_core.SourceImpl":
        return _core._kafka_replicator_source(
            str(self.name), shutdown_timeout=float(self.shutdown_timeout), **self._args)


class QuixEnvironmentSource(_NotSupported):
    """Copies a topic of another Quix Cloud environment. Not supported by streamframe yet."""


class SourceManager(_NotSupported):
    """Quix Streams' internal manager of source subprocesses; streamframe's sources are run by
    the engine."""


@atexit.register
def _stop_sources_left_running() -> None:
    """A source left running after its shutdown timeout still runs Python code; the interpreter
    aborts the process when such a thread wants the GIL while it finalizes. So at exit SystemExit
    is raised in those threads, and each gets up to 5 s to end through its cleanup(). One blocked
    outside Python (a read without a timeout) cannot be reached."""
    if _core._abandon_sources() == 0:
        return
    deadline = time.monotonic() + 5
    while _core._sources_in_python() and time.monotonic() < deadline:
        time.sleep(0.01)
