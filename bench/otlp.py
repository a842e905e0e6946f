"""OTLP benchmark: durable spans/s through POST /v1/traces (protobuf), with baselines of the same run.

    .venv/bin/python bench/otlp.py [--spans 50000] [--runs 3] [--concurrency 8]

Scenarios (each HTTP one on a fresh server and SQLite database):
  otlp     POST /v1/traces, 100-span protobuf ExportTraceServiceRequests: 10 traces of a chain
           root and 9 GenAI model spans (model, provider, parameters, tokens, input and output
           messages in several languages), 8 connections; 200 = committed
  rest     the same events (as hivelog converts them) through POST /events/batch ×100: the
           core write path this is measured against
  decode   protobuf decode + span→event conversion alone, in this process (no HTTP, no
           storage): the CPU ceiling of the OTLP-specific code
Figures are medians of --runs runs; p50/p99 are request latencies.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import ServerProcess, median, request_bytes, run_load

from hivelog.normalize.otlp import spans_to_events
from hivelog.wire.otlp import decode_protobuf

TEXTS = [
    "The quick brown fox jumps over the lazy dog while the model thinks about tokens.",
    "東京の天気は晴れです。明日の予定を確認してください。",
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "¿Dónde está la biblioteca? Necesito encontrar un libro sobre modelos de lenguaje.",
    "模型返回了一个很长的答案，其中包含许多细节和引用。",
]
SPANS_PER_REQUEST = 100
SPANS_PER_TRACE = 10


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        v = AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = AnyValue(int_value=value)
    elif isinstance(value, float):
        v = AnyValue(double_value=value)
    else:
        v = AnyValue(string_value=value)
    return KeyValue(key=key, value=v)


def _span(rng: random.Random, trace: bytes, parent: bytes, root: bool, start: int) -> Span:
    span = Span(
        trace_id=trace,
        span_id=rng.randbytes(8),
        parent_span_id=parent,
        kind=Span.SPAN_KIND_INTERNAL if root else Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + rng.randint(1_000_000, 3_000_000_000),
    )
    if root:
        span.name = "agent run"
        span.attributes.extend([_kv("app.user", "u-" + str(rng.randint(1, 999)))])
        return span
    span.name = "chat gpt-4o-mini"
    history = [{"role": "system", "parts": [{"type": "text", "content": "You are helpful."}]}]
    history += [
        {
            "role": rng.choice(["user", "assistant"]),
            "parts": [{"type": "text", "content": rng.choice(TEXTS)}],
        }
        for _ in range(3)
    ]
    output = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": rng.choice(TEXTS)}],
            "finish_reason": "stop",
        }
    ]
    span.attributes.extend(
        [
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.provider.name", "openai"),
            _kv("gen_ai.request.model", "gpt-4o-mini"),
            _kv("gen_ai.request.temperature", 0.2),
            _kv("gen_ai.request.max_tokens", 512),
            _kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            _kv("gen_ai.response.id", "chatcmpl-" + rng.randbytes(6).hex()),
            _kv("gen_ai.usage.input_tokens", rng.randint(10, 2000)),
            _kv("gen_ai.usage.output_tokens", rng.randint(10, 500)),
            _kv("gen_ai.input.messages", json.dumps(history, ensure_ascii=False)),
            _kv("gen_ai.output.messages", json.dumps(output, ensure_ascii=False)),
        ]
    )
    return span


def make_requests(n_spans: int, seed: int) -> list[bytes]:
    """Protobuf bodies of SPANS_PER_REQUEST spans each (whole traces, root first)."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(0, n_spans, SPANS_PER_REQUEST):
        spans = []
        for _ in range(SPANS_PER_REQUEST // SPANS_PER_TRACE):
            trace = rng.randbytes(16)
            start = 1_790_000_000_000_000_000 + rng.randint(0, 10**15)
            root = _span(rng, trace, b"", True, start)
            spans.append(root)
            spans += [
                _span(rng, trace, root.span_id, False, start + i)
                for i in range(SPANS_PER_TRACE - 1)
            ]
        rs = ResourceSpans()
        rs.resource.attributes.extend(
            [_kv("service.name", "bench"), _kv("honeyhive.project", "bench")]
        )
        scope = ScopeSpans()
        scope.scope.name = "bench"
        scope.spans.extend(spans)
        rs.scope_spans.append(scope)
        bodies.append(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())
    return bodies


def decode_rate(bodies: list[bytes]) -> float:
    start = time.perf_counter()
    n = 0
    for body in bodies:
        spans = decode_protobuf(body)
        spans_to_events(spans, "bench")
        n += len(spans)
    return n / (time.perf_counter() - start)


def rest_requests(bodies: list[bytes]) -> tuple[list[bytes], int]:
    """The events hivelog makes of the same spans, as /events/batch bodies of 100."""
    encode = msgspec.json.Encoder().encode
    events = []
    for body in bodies:
        for group in spans_to_events(decode_protobuf(body), "bench").by_project.values():
            events += [msgspec.structs.asdict(e) for e in group]
    reqs = [
        request_bytes(
            "POST", "/events/batch", encode({"project": "bench", "events": events[i : i + 100]})
        )
        for i in range(0, len(events), 100)
    ]
    return reqs, len(events)


def measure(reqs: list[bytes], items: int, concurrency: int) -> dict[str, float]:
    server = ServerProcess()
    try:
        result = run_load(server.port, reqs, concurrency)
        rss = server.rss_mb()
    finally:
        server.close()
    if result.errors:
        raise RuntimeError(f"{result.errors} requests failed")
    return {
        "per_s": items / result.seconds,
        "p50_ms": result.pct(0.50),
        "p99_ms": result.pct(0.99),
        "rss_mb": rss,
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    rows: dict[str, list[dict[str, float]]] = {"otlp": [], "rest": [], "decode": []}
    size = 0
    for run in range(args.runs):  # interleaved, so drift on a shared machine hits every scenario
        bodies = make_requests(args.spans, seed=run)
        size = sum(len(b) for b in bodies) // len(bodies)
        rows["decode"].append({"per_s": decode_rate(bodies)})
        otlp = [request_bytes("POST", "/v1/traces", b, "application/x-protobuf") for b in bodies]
        rows["otlp"].append(measure(otlp, args.spans, args.concurrency))
        rest, n_events = rest_requests(bodies)
        rows["rest"].append(measure(rest, n_events, args.concurrency))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    def med(kind: str, key: str) -> float:
        return median([r[key] for r in rows[kind]])

    print(
        f"\nhivelog OTLP ingest, SQLite, {args.spans:,} spans/run in {SPANS_PER_REQUEST}-span protobuf "
        f"requests (~{size // 1024} KB), {args.concurrency} connections, median of {args.runs} runs, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'scenario':<44}{'items/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}")
    for kind, label in (
        ("otlp", "POST /v1/traces protobuf ×100 spans (durable)"),
        ("rest", "POST /events/batch ×100 same events (durable)"),
    ):
        print(
            f"{label:<44}{med(kind, 'per_s'):>10,.0f}{med(kind, 'p50_ms'):>9.1f}"
            f"{med(kind, 'p99_ms'):>9.1f}{med(kind, 'rss_mb'):>8.0f}"
        )
    print(f"{'decode + convert only, in process':<44}{med('decode', 'per_s'):>10,.0f}")
    print(
        f"\nOTLP vs REST batch of the same events: {med('otlp', 'per_s') / med('rest', 'per_s'):.2f}×; target ≥ 20,000 spans/s"
    )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "otlp.json").write_text(json.dumps({"args": vars(args), "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
