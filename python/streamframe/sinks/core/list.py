"""ListSink (``quixstreams.sinks.core.list``): records collected in a Python list."""

from collections import UserList
from typing import Any

from .. import BaseSink, HeadersTuples


class ListSink(BaseSink, UserList):
    """A list of the records that reached it, for notebooks and tests.

    A value that is not a dict is stored as ``{"value": value}``. With ``metadata=True`` each
    record starts with ``_key``, ``_timestamp``, ``_headers``, ``_topic``, ``_partition`` and
    ``_offset``.
    """

    def __init__(self, *args: Any, metadata: bool = False):
        BaseSink.__init__(self)
        UserList.__init__(self, *args)
        self._metadata = metadata

    def add(self, value: Any, key: Any, timestamp: int, headers: HeadersTuples, topic: str,
            partition: int, offset: int) -> None:
        record = value if isinstance(value, dict) else {"value": value}
        if self._metadata:
            record = {"_key": key, "_timestamp": timestamp, "_headers": headers, "_topic": topic,
                      "_partition": partition, "_offset": offset, **record}
        self.data.append(record)

    def flush(self) -> None:
        pass


__all__ = ["ListSink"]
