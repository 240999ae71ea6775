"""What the engine's own sinks share in Python: they run natively inside ``sdf.sink()``."""

from typing import Any

from . import BatchingSink, HeadersTuples


class NativeBatchingSink(BatchingSink):
    """A BatchingSink implemented by the C++ engine (``_native``): ``sdf.sink()`` hands it to the
    engine, which batches, writes and handles backpressure without calling into Python per
    record. Its add()/flush() are the engine's to call, not the program's."""

    _native: Any

    def add(self, value: Any, key: Any, timestamp: int, headers: HeadersTuples, topic: str,
            partition: int, offset: int) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.add(): this sink runs inside the engine; pass it to "
            "sdf.sink() instead of calling it")

    def flush(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.flush(): this sink runs inside the engine; pass it to "
            "sdf.sink() instead of calling it")

    def __repr__(self) -> str:
        return f"<BatchingSink: {type(self).__name__} (native)>"
