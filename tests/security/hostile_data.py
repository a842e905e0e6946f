"""Adversarial values, and one session of them stored through each way in.

Ways in: REST (`/events/batch`), OTLP protobuf, OTLP/JSON and `hivelog import` (a JSONL
file). Each session holds one event per hostile string, named after it, with the string in
every place a value can go (inputs, outputs, metadata, error, an odd key), plus numbers JSON
and 64-bit integers cannot carry, deep nesting and strings at the length limit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import HIVELOG
from tests.otlp.otlp_helpers import PROTOBUF, new_span, new_trace, pb_request, pb_span, trace_uuid

FIELD_BYTES = 16_384  # the suite's --max-field-bytes
DEPTH = 60  # nesting within the default --max-json-depth of 64
PWNED = "window.__pwned=1"

# (label, value): each value is stored as an event name and in every field
TEXTS: tuple[tuple[str, str], ...] = (
    ("comment-script", "<!--<script>"),
    ("close-script", f"</script><script>{PWNED}</script>"),
    ("img-onerror", f'<img src=x onerror="{PWNED}">'),
    ("attr-break", f"\"'><svg onload={PWNED}>"),
    ("js-url", f"javascript:{PWNED}"),
    ("template", "{{7*7}} ${7*7} {% raw %}"),
    ("nul", "nul\x00byte"),
    ("controls", "bell\x07esc\x1b[31mred\x1b[0m\x7fdel"),
    ("newlines", "line\r\nbreak\ttab\u2028sep\u2029para"),
    ("rtl", "\u202eevil.exe\u202c file"),
    ("zero-width", "zero\u200bwidth\u200cjoin\u200dmark\ufeffbom"),
    ("emoji", "family 👨\u200d👩\u200d👧 flag 🇯🇵 face 🙂"),
    ("combining", "Z\u0351\u0352\u0353a\u0354\u0355l\u0356go"),
    ("mixed-script", "東京 Москва القاهرة"),
)
ODD_KEYS: tuple[str, ...] = (
    "",
    " ",
    "a.b.c",
    "$",
    "__proto__",
    "constructor",
    "<b>key</b>",
    "nul\x00key",
    "🔑",
)
# Numbers sent as OTLP double attributes, and what is stored for each
DOUBLES: dict[str, tuple[float, Any]] = {
    "inf": (math.inf, "Infinity"),
    "ninf": (-math.inf, "-Infinity"),
    "nan": (math.nan, "NaN"),
    "max": (1.7976931348623157e308, 1.7976931348623157e308),
    "tiny": (5e-324, 5e-324),
    "negzero": (-0.0, 0.0),
}
INTS: dict[str, int] = {"max64": 2**63 - 1, "min64": -(2**63)}


def long_text(nbytes: int) -> str:
    """Mixed-width text of exactly `nbytes` UTF-8 bytes."""
    unit = "aé東🙂"  # 1 + 2 + 3 + 4 bytes
    text = unit * (nbytes // 10)
    return text + "a" * (nbytes - len(text.encode()))


def visible(value: str) -> str:
    """What a page shows of `value`: control characters dropped (those that are whitespace
    become spaces), runs of whitespace as one space."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) != "Cc"
    )
    return " ".join(kept.split())


def deep(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


@dataclasses.dataclass
class Session:
    """One session stored through one way in: its id and its events' ids by label."""

    way: str
    session_id: str
    events: dict[str, str]  # label → event id


def _fields(value: str) -> dict[str, Any]:
    return {
        "inputs": {"chat_history": [{"role": "user", "content": value}], "q": value},
        "outputs": {"role": "assistant", "content": value},
        "metadata": {"note": value, **{key: value for key in ODD_KEYS}},
        "error": value,
    }


def _rest_events(session_id: str, t0: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    events: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for i, (label, value) in enumerate(TEXTS):
        ids[label] = str(uuid.uuid4())
        events.append(
            {"event_id": ids[label], "session_id": session_id, "parent_id": session_id,
             "event_type": "model", "event_name": value, "source": value,
             "start_time": t0 + i, "duration": 5, **_fields(value)}
        )  # fmt: skip
    ids["numbers"] = str(uuid.uuid4())
    events.append(
        {"event_id": ids["numbers"], "session_id": session_id, "event_type": "tool",
         "event_name": "numbers", "start_time": t0 + 50, "duration": 1,
         "metrics": {"max": 1.7976931348623157e308, "negzero": -0.0, **INTS,
                     "over64": 2**64 + 1}}
    )  # fmt: skip
    ids["deep"] = str(uuid.uuid4())
    ids["long"] = str(uuid.uuid4())
    events += [
        {"event_id": ids["deep"], "session_id": session_id, "event_type": "tool",
         "event_name": "deep", "start_time": t0 + 51, "inputs": {"deep": deep(DEPTH, "bottom")}},
        {"event_id": ids["long"], "session_id": session_id, "event_type": "tool",
         "event_name": "long", "start_time": t0 + 52,
         "inputs": {"at": long_text(FIELD_BYTES), "over": long_text(FIELD_BYTES + 1)}},
    ]  # fmt: skip
    return events, ids


def store_rest(c: httpx.Client, project: str, t0: int) -> Session:
    session_id = str(uuid.uuid4())
    start = {"project": project, "session_id": session_id, "session_name": TEXTS[1][1],
             "start_time": t0, "user_properties": {"user_id": TEXTS[2][1]}}  # fmt: skip
    r = c.post("/session/start", json={"session": start})
    assert r.status_code == 200, r.text
    events, ids = _rest_events(session_id, t0)
    r = c.post("/events/batch", json={"project": project, "events": events})
    assert r.status_code == 200, r.text
    return Session("rest", session_id, ids)


def store_import(project: str, t0: int, directory: Path, url: str) -> Session:
    session_id = str(uuid.uuid4())
    events, ids = _rest_events(session_id, t0)
    session = {"event_id": session_id, "session_id": session_id, "event_type": "session",
               "event_name": TEXTS[0][1], "start_time": t0}  # fmt: skip
    path = directory / "hostile.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [session, *events]))
    run = subprocess.run(
        [HIVELOG, "import", str(path), "--url", url, "--project", project],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert ", skipped 0, failed 0" in run.stderr, run.stderr
    return Session("import", session_id, ids)


def _span_attrs(value: str) -> dict[str, Any]:
    return {
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": value,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": value,
        "note": value,
        **{f"odd.{key}": value for key in ODD_KEYS if key},
    }


def store_otlp_protobuf(c: httpx.Client, project: str, t0: int) -> Session:
    trace = new_trace()
    root = new_span()
    spans = [pb_span(trace, root, TEXTS[0][1], {"honeyhive.project": project},
                     start_ns=t0 * 1_000_000)]  # fmt: skip
    ids: dict[str, str] = {}
    for i, (label, value) in enumerate(TEXTS):
        span = new_span()
        ids[label] = span
        attrs = {"honeyhive.project": project, **_span_attrs(value)}
        spans.append(pb_span(trace, span, value, attrs, parent=root,
                             start_ns=(t0 + i) * 1_000_000, status=2, message=value))  # fmt: skip
    numbers = new_span()
    ids["numbers"] = numbers
    attrs = {"honeyhive.project": project, "honeyhive_duration_ms": math.inf, **INTS}
    attrs.update({f"n.{k}": v for k, (v, _) in DOUBLES.items()})
    spans.append(pb_span(trace, numbers, "numbers", attrs, parent=root, start_ns=t0 * 1_000_000))
    r = c.post("/v1/traces", content=pb_request(spans), headers=PROTOBUF)
    assert r.status_code == 200, r.text
    return Session("otlp-protobuf", trace_uuid(trace), _span_ids(trace, ids))


def store_otlp_json(c: httpx.Client, project: str, t0: int) -> Session:
    trace = new_trace()
    root = new_span()
    ids: dict[str, str] = {}

    def span(span_id: str, name: str, attrs: list[dict[str, Any]], offset: int) -> Any:
        return {"traceId": trace, "spanId": span_id, "parentSpanId": root, "name": name,
                "startTimeUnixNano": str((t0 + offset) * 1_000_000),
                "endTimeUnixNano": str((t0 + offset + 5) * 1_000_000),
                "status": {"code": 2, "message": name}, "attributes": attrs}  # fmt: skip

    spans = [{"traceId": trace, "spanId": root, "name": TEXTS[0][1],
              "startTimeUnixNano": str(t0 * 1_000_000),
              "endTimeUnixNano": str((t0 + 100) * 1_000_000)}]  # fmt: skip
    for i, (label, value) in enumerate(TEXTS):
        ids[label] = new_span()
        attrs = [{"key": k, "value": {"stringValue": v}} for k, v in _span_attrs(value).items()]
        spans.append(span(ids[label], value, attrs, i))
    ids["numbers"] = new_span()
    spans.append(
        span(ids["numbers"], "numbers", [
            {"key": "n.inf", "value": {"doubleValue": "Infinity"}},
            {"key": "n.nan", "value": {"doubleValue": "NaN"}},
            {"key": "n.big", "value": {"intValue": "1" + "0" * 30}},
            {"key": "n.max64", "value": {"intValue": str(2**63 - 1)}},
            {"key": "honeyhive_duration_ms", "value": {"doubleValue": "-Infinity"}},
        ], 60)
    )  # fmt: skip
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "honeyhive.project", "value": {"stringValue": project}}]
                },
                "scopeSpans": [{"scope": {"name": TEXTS[3][1]}, "spans": spans}],
            }
        ]
    }
    r = c.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    return Session("otlp-json", trace_uuid(trace), _span_ids(trace, ids))


def _span_ids(trace: str, spans: dict[str, str]) -> dict[str, str]:
    namespace = uuid.UUID("0b5c7e1e-4f43-5e8a-9d6b-2c1f7a3e9b10")
    return {label: str(uuid.uuid5(namespace, trace + s)) for label, s in spans.items()}
