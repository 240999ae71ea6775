"""Topic settings with Quix Streams' names (``quixstreams.models``)."""

from dataclasses import dataclass, field
from typing import Dict


@dataclass
class TopicConfig:
    """How a topic is created when it does not exist (TOP-14)."""

    num_partitions: int
    replication_factor: int
    extra_config: Dict[str, str] = field(default_factory=dict)


__all__ = ["TopicConfig"]
