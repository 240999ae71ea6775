"""``quixstreams.sources.base``: the same classes as ``streamframe.sources``."""

from .. import (
    BaseSource,
    ClientConnectFailureCallback,
    ClientConnectSuccessCallback,
    Source,
    SourceException,
    SourceManager,
    StatefulSource,
)

__all__ = (
    "Source",
    "BaseSource",
    "SourceManager",
    "SourceException",
    "StatefulSource",
    "ClientConnectSuccessCallback",
    "ClientConnectFailureCallback",
)
