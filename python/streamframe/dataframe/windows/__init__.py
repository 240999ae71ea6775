"""Window aggregations for ``.agg(...)`` with Quix Streams' class names
(``quixstreams.dataframe.windows``)."""

from .aggregations import (
    Collect,
    Count,
    Earliest,
    First,
    Last,
    Latest,
    Max,
    Mean,
    Min,
    Reduce,
    Sum,
)

__all__ = ["Collect", "Count", "Earliest", "First", "Last", "Latest", "Max", "Mean", "Min",
           "Reduce", "Sum"]
