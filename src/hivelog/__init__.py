"""hivelog: a self-hosted, HoneyHive-compatible logging server for LLM applications."""

__version__ = "0.1.0"
