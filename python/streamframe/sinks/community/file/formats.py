"""``quixstreams.sinks.community.file.formats``: the formats a file sink writes."""

from typing import Any, Callable, Optional


class JSONFormat:
    """JSON lines, one ``{"_timestamp", "_key", "_value"}`` object per record; ``compress``
    gzips each batch and adds ``.gz`` to the extension; ``dumps`` replaces the compact JSON of a
    line (called in Python per record)."""

    def __init__(self, file_extension: str = ".jsonl", compress: bool = False,
                 dumps: Optional[Callable[[Any], str]] = None) -> None:
        self._file_extension = file_extension
        self._compress = compress
        self._dumps = dumps

    @property
    def file_extension(self) -> str:
        return self._file_extension + (".gz" if self._compress else "")


class ParquetFormat:
    """Not supported by streamframe (there is no Parquet library in its dependencies)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("ParquetFormat: Parquet files are not supported by streamframe")


__all__ = ["JSONFormat", "ParquetFormat"]
