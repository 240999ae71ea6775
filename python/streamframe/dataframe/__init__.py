"""``quixstreams.dataframe``'s names."""

from .._core import StreamingDataFrame, StreamingSeries

__all__ = ["StreamingDataFrame", "StreamingSeries"]
