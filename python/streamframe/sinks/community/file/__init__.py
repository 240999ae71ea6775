"""File sinks with Quix Streams' names (``quixstreams.sinks.community.file``)."""

from .formats import JSONFormat, ParquetFormat
from .local import LocalFileSink

__all__ = ["LocalFileSink", "JSONFormat", "ParquetFormat"]
