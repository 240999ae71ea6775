"""Sinks with Quix Streams' names (``quixstreams.sinks``): ``sdf.sink(sink)`` hands every record
to ``sink.add(...)`` and calls ``sink.flush()`` at each checkpoint, before the input offsets are
committed, so what a sink writes is at-least-once with its input.

A sink's methods run with the GIL held, like any Python callable (PY-03). A sink that raises
``SinkBackpressureError`` from ``flush()`` (or ``write()``) pauses the input for its
``retry_after`` seconds, after which the records since the last checkpoint come again.
"""

import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .._core import StreamframeError

HeadersTuples = Optional[List[Tuple[str, bytes]]]
ClientConnectSuccessCallback = Callable[[], None]
ClientConnectFailureCallback = Callable[[Optional[Exception]], None]


class SinkBackpressureError(StreamframeError):
    """Raised by a sink's write() or flush() when the destination cannot take more now
    (SNK-03).

    The application then commits nothing: it calls ``on_paused()`` on every sink (a
    BatchingSink drops its batches), aborts the exactly-once transaction, rewinds every
    assigned partition to the last checkpoint, pauses them for ``retry_after`` seconds and
    replays the records from there, as in Quix Streams.

    :param retry_after: seconds to pause for.
    """

    def __init__(self, retry_after: float):
        super().__init__(f"sink backpressure: retry after {retry_after} s")
        self.retry_after = retry_after


class SinkItem:
    """One record of a SinkBatch."""

    __slots__ = ("value", "key", "timestamp", "headers", "offset")

    def __init__(self, value: Any, key: Any, timestamp: int, headers: HeadersTuples,
                 offset: int):
        self.value = value
        self.key = key
        self.timestamp = timestamp
        self.headers = headers
        self.offset = offset

    def __repr__(self) -> str:
        return (f"SinkItem(value={self.value!r}, key={self.key!r}, "
                f"timestamp={self.timestamp}, offset={self.offset})")


class SinkBatch:
    """The records of one topic partition added since the last flush, in offset order."""

    def __init__(self, topic: str, partition: int):
        self._topic = topic
        self._partition = partition
        self._items: List[SinkItem] = []

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def partition(self) -> int:
        return self._partition

    @property
    def size(self) -> int:
        return len(self._items)

    @property
    def start_offset(self) -> int:
        return self._items[0].offset

    def append(self, value: Any, key: Any, timestamp: int, headers: HeadersTuples,
               offset: int) -> None:
        self._items.append(SinkItem(value, key, timestamp, headers, offset))

    def clear(self) -> None:
        self._items.clear()

    def empty(self) -> bool:
        return not self._items

    def iter_chunks(self, n: int) -> Iterable[Iterable[SinkItem]]:
        """The items in lists of at most ``n``."""
        if n <= 0:
            raise ValueError("iter_chunks(n) needs n > 0")
        return (self._items[i:i + n] for i in range(0, len(self._items), n))

    def __iter__(self) -> Iterator[SinkItem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def _log_connected() -> None:
    pass


def _raise_on_failure(exception: Optional[Exception]) -> None:
    if exception is not None:
        raise exception


class BaseSink:
    """A destination for records: subclass it and implement ``add()`` and ``flush()``.

    ``start()`` runs once when ``app.run()`` starts, before the first record: it calls
    ``setup()`` (connect, check credentials) and then ``on_client_connect_success()``, or
    ``on_client_connect_failure(exception)`` if setup raised (the default re-raises, and the app
    stops with that error).
    """

    def __init__(self, on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None):
        self._on_client_connect_success = on_client_connect_success or _log_connected
        self._on_client_connect_failure = on_client_connect_failure or _raise_on_failure

    def setup(self) -> None:
        """Connect to the destination; raise if it cannot be reached."""

    def start(self) -> None:
        try:
            self.setup()
        except Exception as e:  # the callback decides: re-raise (default) or carry on
            self._on_client_connect_failure(e)
        else:
            self._on_client_connect_success()

    def add(self, value: Any, key: Any, timestamp: int, headers: HeadersTuples, topic: str,
            partition: int, offset: int) -> None:
        raise NotImplementedError(f"{type(self).__name__}.add()")

    def flush(self) -> None:
        raise NotImplementedError(f"{type(self).__name__}.flush()")

    def on_paused(self) -> None:
        """Called when a sink raised SinkBackpressureError: what was added since the last
        flush will be added again after the pause; drop it."""


class BatchingSink(BaseSink):
    """A sink that writes in batches: ``add()`` keeps each topic partition's records in a
    SinkBatch, and ``flush()`` (at each checkpoint) hands every batch to ``write(batch)`` and then
    drops them, written or not. Implement ``write()``.

    With ``num_workers`` > 1 the batches are kept per worker thread: a worker's checkpoint
    writes (or, on backpressure, drops) the records of its own partitions only."""

    def __init__(self, on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None):
        super().__init__(on_client_connect_success, on_client_connect_failure)
        self._by_worker: Dict[int, Dict[Tuple[str, int], SinkBatch]] = {}

    @property
    def _batches(self) -> Dict[Tuple[str, int], SinkBatch]:
        """The calling worker's batches."""
        return self._by_worker.setdefault(threading.get_ident(), {})

    def write(self, batch: SinkBatch) -> None:
        raise NotImplementedError(f"{type(self).__name__}.write()")

    def add(self, value: Any, key: Any, timestamp: int, headers: HeadersTuples, topic: str,
            partition: int, offset: int) -> None:
        batches = self._batches
        batch = batches.get((topic, partition))
        if batch is None:
            batch = batches[(topic, partition)] = SinkBatch(topic, partition)
        batch.append(value, key, timestamp, headers, offset)

    def flush(self) -> None:
        # A failed write fails the checkpoint; the batches go either way, because the records
        # are replayed from the last checkpoint.
        batches = self._by_worker.pop(threading.get_ident(), {})
        for batch in batches.values():
            if not batch.empty():
                self.write(batch)

    def on_paused(self) -> None:
        # Only the calling worker's partitions go back to the last checkpoint.
        self._by_worker.pop(threading.get_ident(), None)

    def __repr__(self) -> str:
        return f"<BatchingSink: {type(self).__name__}>"


__all__ = [
    "BaseSink",
    "BatchingSink",
    "SinkBatch",
    "SinkItem",
    "SinkBackpressureError",
    "ClientConnectSuccessCallback",
    "ClientConnectFailureCallback",
]
