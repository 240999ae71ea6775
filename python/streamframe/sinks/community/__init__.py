"""Connectors to other systems (``quixstreams.sinks.community``)."""
