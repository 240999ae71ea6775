"""Kafka connection settings, as ``quixstreams.kafka`` has them (APP-17)."""

from .configuration import ConnectionConfig

__all__ = ("ConnectionConfig",)
