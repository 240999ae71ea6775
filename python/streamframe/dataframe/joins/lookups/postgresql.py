"""PostgreSQL lookups with Quix Streams' names
(``quixstreams.dataframe.joins.lookups.postgresql``), through the engine's libpq client (no
psycopg needed)."""

import dataclasses
from typing import Any, Dict, List, Literal

from ...._core import _postgres_lookup
from . import BaseLookup


@dataclasses.dataclass
class PostgresLookupField:
    table: str
    columns: List[str]
    on: str
    order_by: str = ""
    order_by_direction: Literal["ASC", "DESC"] = "ASC"
    schema: str = "public"
    ttl: float = 60.0
    default: Any = None
    first_match_only: bool = True


@dataclasses.dataclass
class PostgresLookupQueryField:
    """``%(name)s`` parameters are bound from the record's fields (never spliced in)."""

    query: str
    ttl: float = 60.0
    default: Any = None
    first_match_only: bool = True


class PostgresLookup(BaseLookup):
    """One connection to a PostgreSQL database, made now (LookupConnectionError after
    ``connection_timeout_seconds``), with an LRU cache of ``cache_size`` results."""

    def __init__(self, host: str, port: int, dbname: str, user: str, password: str,
                 connection_timeout_seconds: int = 30, statement_timeout_seconds: int = 30,
                 cache_size: int = 1000, **kwargs: Any):
        if kwargs:
            raise NotImplementedError(
                f"PostgresLookup({', '.join(kwargs)}=...): not supported by streamframe")
        self._impl = _postgres_lookup(host, port, dbname, user, password,
                                      float(connection_timeout_seconds),
                                      float(statement_timeout_seconds), cache_size)

    def field(self, **kwargs: Any) -> PostgresLookupField:
        return PostgresLookupField(**kwargs)

    def query_field(self, **kwargs: Any) -> PostgresLookupQueryField:
        return PostgresLookupQueryField(**kwargs)

    def cache_info(self) -> Dict[str, int]:
        return self._impl.cache_info()


__all__ = ["PostgresLookup", "PostgresLookupField", "PostgresLookupQueryField"]
