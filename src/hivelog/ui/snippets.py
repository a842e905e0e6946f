"""The copy-paste snippets of the empty-project page, quoted for where they are pasted.

The project name comes from the page's `?project=`, so anyone can make a link that puts any
text in these snippets: each value is quoted for its language (shell words with
`shlex.quote`, JSON with a JSON encoder, Python with `repr`, OpenTelemetry resource attributes
percent-encoded), so the pasted command does what it shows and nothing else, whatever the name.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import urllib.parse

_BODY = """{{"event": {{"project": {project}, "event_type": "model", "event_name": "hello",
       "config": {{"model": "gpt-4o"}},
       "inputs": {{"chat_history": [{{"role": "user", "content": "Hello!"}}]}},
       "outputs": {{"role": "assistant", "content": "Hi there."}},
       "metadata": {{"prompt_tokens": 3, "completion_tokens": 3}}}}}}"""


@dataclasses.dataclass(frozen=True)
class Snippets:
    curl: str
    python: str
    otel: str


def snippets(base_url: str, project: str) -> Snippets:
    """Three ways to send a first event to `project` at `base_url`."""
    body = _BODY.format(project=json.dumps(project, ensure_ascii=False))
    curl = (
        f"curl -X POST {shlex.quote(base_url + '/events')} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )
    python = (
        "from hivelog_client import Logger\n\n"
        f'logger = Logger({base_url!r}, project={project!r}, source="dev")\n'
        'logger.start_session("my first session")\n'
        'logger.log_model("gpt-4o", messages=[{"role": "user", "content": "Hello!"}],\n'
        '                 response={"role": "assistant", "content": "Hi there."},\n'
        '                 usage={"prompt_tokens": 3, "completion_tokens": 3}, duration=420)'
    )
    attributes = "honeyhive.project=" + urllib.parse.quote(project, safe="")
    otel = (
        "export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="
        f"{shlex.quote(base_url + '/opentelemetry/v1/traces')}\n"
        f"export OTEL_RESOURCE_ATTRIBUTES={shlex.quote(attributes)}\n"
        "# then run your app with its OpenTelemetry / OpenLLMetry / OpenInference instrumentation"
    )
    return Snippets(curl=curl, python=python, otel=otel)
