"""Joins with Quix Streams' names (``quixstreams.dataframe.joins``): ``join_asof`` and
``join_interval`` are methods of StreamingDataFrame; lookups are in ``.lookups``."""
