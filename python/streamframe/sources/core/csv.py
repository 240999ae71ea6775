"""``quixstreams.sources.core.csv``: CSVSource (SRC-05)."""

from .. import CSVSource

__all__ = ("CSVSource",)
