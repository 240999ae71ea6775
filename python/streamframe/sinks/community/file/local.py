"""LocalFileSink with Quix Streams' names (``quixstreams.sinks.community.file.local``), written
by the engine."""

from typing import Optional, Union

from ...._core import _file_sink
from ... import ClientConnectFailureCallback, ClientConnectSuccessCallback
from ..._native import NativeBatchingSink
from .formats import JSONFormat


class LocalFileSink(NativeBatchingSink):
    """Writes each checkpoint's records as JSON lines to
    ``<directory>/<topic>/<partition>/<first offset, 19 digits><extension>``, fsynced before the
    offsets commit. ``append=True`` appends to the partition's newest file instead (rotated by
    ``max_file_bytes`` / ``max_file_age_seconds``, streamframe's additions).

    Δ from Quix Streams: a new file is written under a temporary name and renamed (a crash never
    leaves half a file); a key is written as its text. As in Quix Streams, a topic's
    characters outside ``[a-zA-Z0-9 ._/]`` become ``_`` in the directory name. Only
    ``format="json"`` or a ``JSONFormat``; ``"parquet"`` raises ``NotImplementedError``."""

    def __init__(self, directory: str = "", format: Union[str, JSONFormat] = "json",
                 append: bool = False,
                 on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None,
                 max_file_bytes: int = 0, max_file_age_seconds: float = 0) -> None:
        super().__init__(on_client_connect_success, on_client_connect_failure)
        if format == "json":
            format = JSONFormat()
        elif isinstance(format, str):
            raise NotImplementedError(f"LocalFileSink(format={format!r}): streamframe writes "
                                      "JSON lines only")
        if not isinstance(format, JSONFormat):
            raise NotImplementedError("LocalFileSink(format=...): a JSONFormat or \"json\"")
        self._format = format
        self._native = _file_sink(directory or ".", format._file_extension, format._compress,
                                  append, int(max_file_bytes), float(max_file_age_seconds),
                                  format._dumps, on_client_connect_success,
                                  on_client_connect_failure)


__all__ = ["LocalFileSink"]
