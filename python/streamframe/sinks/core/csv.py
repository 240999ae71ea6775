"""CSVSink with Quix Streams' names (``quixstreams.sinks.core.csv``), written by the engine."""

import json
from typing import Any, Callable, Literal, Optional

from ..._core import _csv_sink
from .. import ClientConnectFailureCallback, ClientConnectSuccessCallback
from .._native import NativeBatchingSink


class CSVSink(NativeBatchingSink):
    """Appends every record to the CSV file ``path`` as key, value, timestamp, topic, partition,
    offset, with a header line when the file is new; each checkpoint's rows are written and
    fsynced before the input offsets commit.

    ``dialect``: "excel", "excel-tab" or "unix", as Python's csv module writes them. The key is
    written by ``key_serializer``, the value by ``value_serializer``. Their defaults run in the
    engine and differ from Quix Streams' (Δ): a key is written as its text (Quix: ``str()`` of
    the bytes, ``b'...'``), a missing key as ``None``, and the value as compact JSON (Quix:
    ``json.dumps``, with a space after ``:`` and ``,``). Pass ``str`` or ``json.dumps``
    explicitly (as ``lambda k: str(k)``) for Quix's exact text, at a Python call per record."""

    def __init__(self, path: str, dialect: Literal["excel", "excel-tab", "unix"] = "excel",
                 key_serializer: Callable[[Any], str] = str,
                 value_serializer: Callable[[Any], str] = json.dumps,
                 on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None):
        super().__init__(on_client_connect_success, on_client_connect_failure)
        # The defaults run natively (the same text, without a Python call per record).
        self._native = _csv_sink(
            str(path), dialect, None if key_serializer is str else key_serializer,
            None if value_serializer is json.dumps else value_serializer,
            on_client_connect_success, on_client_connect_failure)


__all__ = ["CSVSink"]
