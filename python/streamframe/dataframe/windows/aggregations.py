"""Aggregations for ``window.agg(name=Sum("col"), ...)``. Each call returns the engine's
aggregation: the computation runs natively, without Python per record, except ``Reduce``,
whose two callables are Python."""

from typing import Any, Callable, Optional

from ..._core import Aggregation, _aggregation, _reduce


def Sum(column: Optional[str] = None) -> Aggregation:  # noqa: N802 (Quix's class names)
    return _aggregation("sum", column)


def Count(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("count", column)


def Mean(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("mean", column)


def Min(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("min", column)


def Max(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("max", column)


def Earliest(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("earliest", column)


def Latest(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("latest", column)


def First(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("first", column)


def Last(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("last", column)


def Collect(column: Optional[str] = None) -> Aggregation:  # noqa: N802
    return _aggregation("collect", column)


def Reduce(  # noqa: N802
    reducer: Callable[[Any, Any], Any], initializer: Callable[[Any], Any]
) -> Aggregation:
    return _reduce(reducer, initializer)
