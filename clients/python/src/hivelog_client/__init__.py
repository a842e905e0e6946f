"""hivelog_client: log LLM calls, tool calls and chains to hivelog (or HoneyHive), stdlib only.

- `Logger`: sync, one request per call (strategies 1 and 2 of the logging guide).
- `BatchLogger`: never blocks; a background thread sends batches (strategies 3 and 4).
- `trace`, `enrich_event`, `enrich_session`: automatic events with nesting via contextvars.
"""

__version__ = "0.1.0"

from hivelog_client._encode import to_json
from hivelog_client._http import HivelogError, RetryPolicy
from hivelog_client.batch import BatchLogger
from hivelog_client.logger import BaseLogger, Logger
from hivelog_client.tracer import (
    Trace,
    configure,
    enrich_event,
    enrich_session,
    trace,
)

__all__ = [
    "BaseLogger",
    "BatchLogger",
    "HivelogError",
    "Logger",
    "RetryPolicy",
    "Trace",
    "__version__",
    "configure",
    "enrich_event",
    "enrich_session",
    "to_json",
    "trace",
]
