"""Lookup joins with Quix Streams' names (``quixstreams.dataframe.joins.lookups``).

``sdf.join_lookup(lookup, fields={"name": field, ...}, on=None, buffer=None)`` enriches each
record in place with rows of a database. The queries, the per-lookup cache and the buffer run
natively (JOIN-05); only an ``on`` callable and a buffer's ``is_resolved`` are Python calls.
"""

import dataclasses
from datetime import timedelta
from typing import Any, Callable, Dict, List, Literal, Optional, Union

from ...._core import _sqlite_lookup

OnTimeout = Literal["emit", "drop"]


@dataclasses.dataclass
class SQLiteLookupField:
    """The row(s) of ``table`` whose column ``on`` equals the record's lookup key: the first as
    ``{column: value}`` (``default`` when none), or all of them with
    ``first_match_only=False``. Cached for ``ttl`` seconds per lookup key."""

    table: str
    columns: List[str]
    on: str
    order_by: str = ""
    order_by_direction: Literal["ASC", "DESC"] = "ASC"
    ttl: float = 60.0
    default: Any = None
    first_match_only: bool = True


@dataclasses.dataclass
class SQLiteLookupQueryField:
    """A query of your own; ``:name`` parameters are bound from the record's fields."""

    query: str
    ttl: float = 60.0
    default: Any = None
    first_match_only: bool = True


class BaseLookup:
    """A lookup of your own: implement ``join(fields, on, value, key, timestamp, headers)``,
    which sets ``value[name]`` for each of ``fields`` (the dict given to ``join_lookup``) in
    place. It is called with the GIL held; the buffer and its store work as for the built-in
    lookups (a field's ``default`` attribute, if it has one, is what a buffer's timeout gives).
    SQLiteLookup and PostgresLookup run natively instead."""

    def join(self, fields: Dict[str, Any], on: Any, value: Dict[str, Any], key: Any,
             timestamp: int, headers: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.join()")


@dataclasses.dataclass(frozen=True)
class BaseField:
    """Base of lookup fields (Quix Streams' name)."""


class SQLiteLookup(BaseLookup):
    """A SQLite database file, opened read-only, with an LRU cache of ``cache_size`` results."""

    def __init__(self, path: str, cache_size: int = 1000):
        self._impl = _sqlite_lookup(str(path), cache_size)

    def cache_info(self) -> Dict[str, int]:
        """hits, misses, size and max_size of the cache."""
        return self._impl.cache_info()


class LookupBuffer:
    """Holds records whose lookup did not resolve (``is_resolved(value)`` false) in a store with
    a changelog, and releases them in arrival order per key when a later record of the key
    resolves, or after ``grace_ms`` of wall-clock time (``on_timeout``: "emit" with the
    fields' defaults, or "drop")."""

    def __init__(self, grace_ms: Union[int, timedelta], is_resolved: Callable[[Any], bool],
                 on_timeout: OnTimeout = "emit", max_buffered_per_key: int = 10_000,
                 store_name: str = "lookup-buffer"):
        self.grace_ms = grace_ms
        self.is_resolved = is_resolved
        self.on_timeout = on_timeout
        self.max_buffered_per_key = max_buffered_per_key
        self.store_name = store_name


__all__ = [
    "BaseField",
    "BaseLookup",
    "LookupBuffer",
    "SQLiteLookup",
    "SQLiteLookupField",
    "SQLiteLookupQueryField",
]
