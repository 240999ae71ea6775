"""Topic settings and serdes with Quix Streams' names (``quixstreams.models``)."""

from dataclasses import dataclass, field
from typing import Dict


@dataclass
class TopicConfig:
    """How a topic is created when it does not exist (TOP-14)."""

    num_partitions: int
    replication_factor: int
    extra_config: Dict[str, str] = field(default_factory=dict)


from . import serializers
from .serializers import *  # noqa: F401,F403 (Quix Streams exports them here too)

__all__ = ["TopicConfig", *serializers.__all__]
