"""Property tests of the two quoting functions pages rely on, over arbitrary text.

`embed_json` (JSON inside `<script type="application/json">`) must hold no character that
markup could start with and decode to the same value; the empty-project snippets must hand the
shell, JSON, Python and OpenTelemetry exactly the project name, whatever it is. The end-to-end
versions (Chromium, a shell running the pasted commands) are tests/ui/test_hostile_markup.py
and tests/security/test_snippets.py.
"""

from __future__ import annotations

import ast
import json
import shlex
import urllib.parse
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hivelog.ui.render import embed_json
from hivelog.ui.snippets import snippets

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from("<>&'\"\\$`!\u2028\u2029\n")
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_embedded_json_has_no_markup_and_decodes_to_the_same_value(value: Any) -> None:
    text = str(embed_json(value))
    assert not set(text) & set("<>&\u2028\u2029")
    assert json.loads(text) == value


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_snippets_carry_the_exact_project_name(project: str) -> None:
    s = snippets("http://127.0.0.1:8080", project)
    words = shlex.split(s.curl.replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", "http://127.0.0.1:8080/events"]
    assert json.loads(words[words.index("-d") + 1])["event"]["project"] == project
    call = ast.parse(s.python).body[1]
    assert isinstance(call, ast.Assign) and isinstance(call.value, ast.Call)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.value.keywords}
    assert kwargs["project"] == project
    exports = [w for w in shlex.split(s.otel, comments=True) if w != "export"]
    assert (
        exports[0]
        == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:8080/opentelemetry/v1/traces"
    )
    key, _, value = exports[1].partition("=")
    assert key == "OTEL_RESOURCE_ATTRIBUTES"
    name, _, encoded = value.partition("=")
    assert "," not in encoded and name == "honeyhive.project"
    assert urllib.parse.unquote(encoded) == project
