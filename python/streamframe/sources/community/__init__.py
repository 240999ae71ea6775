"""Sources of other systems (``quixstreams.sources.community``)."""
