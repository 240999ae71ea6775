"""Messages with Quix Streams' names (``quixstreams.models.messages``)."""

from typing import Any, List, Optional, Tuple, Union

Headers = Union[List[Tuple[str, Any]], dict]


class KafkaMessage:
    """A record ready for Kafka: what ``Source.serialize()`` returns (key and value serialized
    to bytes with the topic's serializers)."""

    __slots__ = ("key", "value", "headers", "timestamp")

    def __init__(self, key: Optional[Union[str, bytes]], value: Optional[Union[str, bytes]],
                 headers: Optional[Headers], timestamp: Optional[int] = None) -> None:
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return (f"KafkaMessage(key={self.key!r}, value={self.value!r}, "
                f"headers={self.headers!r}, timestamp={self.timestamp!r})")
