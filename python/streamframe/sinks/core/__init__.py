"""Sinks that ship with streamframe (``quixstreams.sinks.core``)."""
