"""``quixstreams.sources.core``: the sources streamframe ships."""

from .. import CSVSource

__all__ = ("CSVSource",)
