"""PostgreSQLSink with Quix Streams' names (``quixstreams.sinks.community.postgresql``), written
by the engine through libpq (no psycopg2 needed): one COPY per table per checkpoint."""

from typing import Any, Callable, Iterable, Optional, Union

from ..._core import PostgreSQLSinkError, _postgresql_sink
from .. import ClientConnectFailureCallback, ClientConnectSuccessCallback, SinkItem
from .._native import NativeBatchingSink

TableName = Union[Callable[[SinkItem], str], str]
PrimaryKeySetter = Callable[[SinkItem], Union[str, list, tuple]]
PrimaryKeyColumns = Union[str, list, tuple, PrimaryKeySetter]

# Quix Streams' name of the error a write PostgreSQL refuses raises. Its instances carry
# ``table``, ``column``, ``sqlstate`` and ``constraint``.
PostgreSQLSinkException = PostgreSQLSinkError


class PostgreSQLSink(NativeBatchingSink):
    """Writes each record, a dict, as a row of ``schema_name.table_name`` (docs/connectors.md).

    Tables and columns are created as the records need them (``schema_auto_update``): int ->
    BIGINT, float -> DOUBLE PRECISION (also when a field holds ints and floats), str -> TEXT,
    bool -> BOOLEAN, list/dict -> JSONB; with ``include_metadata`` a ``timestamp`` (UTC) and a
    ``__key`` column too. ``upsert_on_primary_key`` keeps one row per primary key, the last one
    written; ``on_conflict_do_nothing`` the first. When the database is away or gives way, the
    checkpoint backs off for ``retry_after_seconds`` and the records come again (SNK-03);
    a write it refuses (a constraint, a type) stops the app with PostgreSQLSinkException.

    ``kwargs`` are more libpq connection parameters (``sslmode``, ``application_name``, ...), as
    psycopg2.connect takes them."""

    def __init__(self, host: str, port: int, dbname: str, user: str, password: str,
                 table_name: TableName, schema_name: str = "public",
                 schema_auto_update: bool = True, connection_timeout_seconds: int = 30,
                 statement_timeout_seconds: int = 30,
                 primary_key_columns: PrimaryKeyColumns = (),
                 upsert_on_primary_key: bool = False, on_conflict_do_nothing: bool = False,
                 include_metadata: bool = True,
                 on_client_connect_success: Optional[ClientConnectSuccessCallback] = None,
                 on_client_connect_failure: Optional[ClientConnectFailureCallback] = None,
                 retry_after_seconds: float = 5.0, **kwargs: Any):
        super().__init__(on_client_connect_success, on_client_connect_failure)
        if upsert_on_primary_key and on_conflict_do_nothing:
            raise ValueError("Cannot use both `upsert_on_primary_key=True` and "
                             "`on_conflict_do_nothing=True` at the same time.")
        if not (callable(table_name) or isinstance(table_name, str)):
            raise TypeError("table_name must be a str or a callable taking a SinkItem")
        if not callable(primary_key_columns) and not isinstance(primary_key_columns,
                                                                (str, list, tuple)):
            raise TypeError("primary_key_columns must be a str, a list or tuple of str, or a "
                            "callable taking a SinkItem")
        if "options" in kwargs:
            raise NotImplementedError(
                "PostgreSQLSink(options=...): not supported by streamframe (the statement "
                "timeout is set through statement_timeout_seconds)")
        params = {str(k): str(v) for k, v in kwargs.items()}
        self._native = _postgresql_sink(
            host, int(port), dbname, user, password, table_name, schema_name,
            schema_auto_update, float(connection_timeout_seconds),
            float(statement_timeout_seconds), primary_key_columns, upsert_on_primary_key,
            on_conflict_do_nothing, include_metadata, float(retry_after_seconds), params,
            on_client_connect_success, on_client_connect_failure)


__all__ = ["PostgreSQLSink", "PostgreSQLSinkException"]
