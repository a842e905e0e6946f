"""OTLP benchmark: durable spans/s through POST /v1/traces (protobuf), with baselines of the same run.

    .venv/bin/python bench/otlp.py [--spans 50000] [--runs 3] [--concurrency 8]

Scenarios (each HTTP one on a fresh server and SQLite database):
  otlp     POST /v1/traces, 100-span protobuf ExportTraceServiceRequests: 10 traces of a chain
           root and 9 GenAI model spans (model, provider, parameters, tokens, input and output
           messages in several languages), 8 connections; 200 = committed
  rest     the same events (as hivelog converts them) through POST /events/batch ×100: the
           core write path this is measured against
  decode   protobuf decode + span→event conversion alone, in this process (no HTTP, no
           storage): the CPU ceiling of the OTLP-specific code; and the CPU µs per span of
           each stage a worker runs (decode, convert, limits, rows, hand-over) and of the
           server's decoding of the worker's answer (`stage_costs`)
  logs     the log-only content mode of the GenAI instrumentations: the same spans without
           their messages (`bare spans`), then one log record per message (system, 3 history
           messages, the choice: 5 per model span) through POST /v1/logs in 100-record
           protobuf requests, each folded into its span's event (`records after spans`); and
           on another server the records first (parked) and the spans after them (`spans
           after records`, each span folding its parked records in)
Figures are medians of --runs runs; p50/p99 are request latencies. In `otlp` and `rest` the
first request is sent alone and not timed (it starts the conversion worker, which a running
server has), and the server's CPU per item is reported: its own process, and the others it
started (conversion workers, the SQLite writer; user + system time from /proc), so a ratio under load can be read as CPU spent.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import (
    ServerProcess,
    median,
    process_cpu_seconds,
    process_tree,
    request_bytes,
    run_load,
)

from hivelog.gc_tuning import tune_gc
from hivelog.ingest.converters import Converters, _convert_encoded
from hivelog.ingest.limits import Limits
from hivelog.normalize.otlp import spans_to_events
from hivelog.store.sqlite.writes import sqlite_rows
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


RECORDS_PER_REQUEST = 100
_MESSAGE_ATTRS = ("gen_ai.input.messages", "gen_ai.output.messages")


def _any(value: Any) -> AnyValue:
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=_any(v)) for k, v in value.items())
        return out
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=str(value))


def _records(span: Span) -> list[LogRecord]:
    """The log records the log-only content mode sends for a model span: one per message."""
    attrs = {kv.key: kv.value.string_value for kv in span.attributes}
    history = json.loads(attrs["gen_ai.input.messages"])
    (answer,) = json.loads(attrs["gen_ai.output.messages"])
    records = []
    for i, message in enumerate(history):
        text = "".join(p["content"] for p in message["parts"])
        name = f"gen_ai.{message['role']}.message"
        records.append((name, {"content": text}, i))
    text = "".join(p["content"] for p in answer["parts"])
    choice = {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": text},
    }
    records.append(("gen_ai.choice", choice, len(history)))
    return [
        LogRecord(
            time_unix_nano=span.start_time_unix_nano + n,
            trace_id=span.trace_id,
            span_id=span.span_id,
            event_name=name,
            body=_any(body),
        )
        for name, body, n in records
    ]


def log_only(bodies: list[bytes]) -> tuple[list[bytes], list[bytes], int, int]:
    """The same spans without their messages, and their messages as log records: protobuf
    bodies of spans (as many per request as before) and of RECORDS_PER_REQUEST records."""
    spans_out: list[bytes] = []
    records: list[LogRecord] = []
    n_spans = 0
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    n_spans += 1
                    if any(kv.key in _MESSAGE_ATTRS for kv in span.attributes):
                        records += _records(span)
                        kept = [kv for kv in span.attributes if kv.key not in _MESSAGE_ATTRS]
                        del span.attributes[:]
                        span.attributes.extend(kept)
        spans_out.append(request.SerializeToString())
    logs_out = []
    for i in range(0, len(records), RECORDS_PER_REQUEST):
        rl = ResourceLogs()
        rl.resource.attributes.extend(
            [_kv("service.name", "bench"), _kv("honeyhive.project", "bench")]
        )
        scope = ScopeLogs()
        scope.scope.name = "bench"
        scope.log_records.extend(records[i : i + RECORDS_PER_REQUEST])
        rl.scope_logs.append(scope)
        logs_out.append(ExportLogsServiceRequest(resource_logs=[rl]).SerializeToString())
    return spans_out, logs_out, n_spans, len(records)


def measure_pair(
    first: list[bytes], n_first: int, then: list[bytes], n_then: int, concurrency: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Two loads one after the other on one server (the second finds what the first stored)."""
    server = ServerProcess(extra=["--grpc-port", "0"])
    try:
        a = run_load(server.port, first, concurrency)
        b = run_load(server.port, then, concurrency)
    finally:
        server.close()
    if a.errors or b.errors:
        raise RuntimeError(f"{a.errors + b.errors} requests failed")
    return (
        {"per_s": n_first / a.seconds, "p50_ms": a.pct(0.50), "p99_ms": a.pct(0.99), "rss_mb": 0},
        {"per_s": n_then / b.seconds, "p50_ms": b.pct(0.50), "p99_ms": b.pct(0.99), "rss_mb": 0},
    )


def decode_rate(bodies: list[bytes]) -> float:
    start = time.perf_counter()
    n = 0
    for body in bodies:
        spans = decode_protobuf(body)
        spans_to_events(spans, "bench")
        n += len(spans)
    return n / (time.perf_counter() - start)


STAGES = ("decode", "convert", "limits", "rows", "hand-over", "worker", "server")


def stage_costs(bodies: list[bytes]) -> dict[str, float]:
    """CPU µs per span of each stage of a worker's conversion and of the server's part of it,
    in this process (time.process_time, so other load on the machine barely moves them):
    protobuf decode, span→event conversion, the limits' look at the events, row encoding
    (SQLite), the worker's msgpack answer, all a worker does (`worker`: these together), and
    the server's decoding of that answer."""
    limits = Limits(max_batch_events=10_000, max_field_bytes=1024 * 1024, max_json_depth=64)
    converters = Converters(0, None, limits, sqlite_rows)
    spans = [decode_protobuf(body) for body in bodies]
    converted = [spans_to_events(s, "bench") for s in spans]
    events = [list(e) for c in converted for e in c.by_project.values()]
    answers = [_convert_encoded(body, False, "bench", limits, sqlite_rows) for body in bodies]
    rows = [{p: sqlite_rows(list(e)) for p, e in c.by_project.items()} for c in converted]
    encode = msgspec.msgpack.Encoder().encode
    n = sum(len(s) for s in spans)
    work = {
        "decode": lambda: [decode_protobuf(body) for body in bodies],
        "convert": lambda: [spans_to_events(decode_protobuf(body), "bench") for body in bodies],
        "limits": lambda: [limits.unchanged(e, len(bodies[0])) for e in events],
        "rows": lambda: [sqlite_rows(e) for e in events],
        "hand-over": lambda: [
            encode((0, c.by_project, c.traces, 0, [], "", None, r))
            for c, r in zip(converted, rows, strict=True)
        ],
        "worker": lambda: [
            _convert_encoded(body, False, "bench", limits, sqlite_rows) for body in bodies
        ],
        "server": lambda: [converters.answer(answer) for answer in answers],
    }
    tune_gc()  # as the server and its workers run
    costs = {}
    for stage, run in work.items():
        run()  # warm: caches (prices), first allocations
        times = []
        for _ in range(3):
            start = time.process_time()
            run()
            times.append((time.process_time() - start) / n * 1e6)
        costs[stage] = median(times)
    costs["convert"] -= costs["decode"]  # it decodes too
    return costs


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


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU (user + system) used so far by the server process, and by the processes it started
    (its conversion workers and, on SQLite, its writer process)."""
    main, *others = process_tree(pid)
    return process_cpu_seconds(main), sum(process_cpu_seconds(p) for p in others)


def measure(
    reqs: list[bytes], items: int, concurrency: int, serve_args: Sequence[str] = ()
) -> dict[str, float]:
    """A fresh server; the first request alone (it starts what starts on first use, e.g. the
    conversion worker) is not timed; the CPU the server used per item is reported with the rate."""
    server = ServerProcess(extra=["--grpc-port", "0", *serve_args])
    try:
        run_load(server.port, reqs[:1], 1)
        main0, workers0 = cpu_seconds(server.pid)
        result = run_load(server.port, reqs[1:], concurrency)
        main1, workers1 = cpu_seconds(server.pid)
        rss = server.rss_mb()
    finally:
        server.close()
    if result.errors:
        raise RuntimeError(f"{result.errors} requests failed")
    timed = items * (len(reqs) - 1) / len(reqs)
    return {
        "per_s": timed / result.seconds,
        "p50_ms": result.pct(0.50),
        "p99_ms": result.pct(0.99),
        "rss_mb": rss,
        "main_us": (main1 - main0) / timed * 1e6,
        "workers_us": (workers1 - workers0) / timed * 1e6,
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-logs", action="store_true", help="skip the log-record scenarios")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="an argument for the servers of the otlp and rest scenarios (repeat it), e.g. "
        "--serve-arg=--convert-processes=2",
    )
    args = parser.parse_args()

    kinds = ("otlp", "rest", "decode", "bare", "records", "parked", "folding")
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    size = 0
    for run in range(args.runs):  # interleaved, so drift on a shared machine hits every scenario
        bodies = make_requests(args.spans, seed=run)
        size = sum(len(b) for b in bodies) // len(bodies)
        rows["decode"].append({"per_s": decode_rate(bodies), **stage_costs(bodies)})
        otlp = [request_bytes("POST", "/v1/traces", b, "application/x-protobuf") for b in bodies]
        rows["otlp"].append(measure(otlp, args.spans, args.concurrency, args.serve_arg))
        rest, n_events = rest_requests(bodies)
        rows["rest"].append(measure(rest, n_events, args.concurrency, args.serve_arg))
        if not args.no_logs:
            bare, records, n_spans, n_records = log_only(bodies)
            bare_reqs = [
                request_bytes("POST", "/v1/traces", b, "application/x-protobuf") for b in bare
            ]
            log_reqs = [
                request_bytes("POST", "/v1/logs", b, "application/x-protobuf") for b in records
            ]
            spans_first = measure_pair(bare_reqs, n_spans, log_reqs, n_records, args.concurrency)
            rows["bare"].append(spans_first[0])
            rows["records"].append(spans_first[1])
            logs_first = measure_pair(log_reqs, n_records, bare_reqs, n_spans, args.concurrency)
            rows["parked"].append(logs_first[0])
            rows["folding"].append(logs_first[1])
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    def med(kind: str, key: str) -> float:
        return median([r[key] for r in rows[kind]])

    print(
        f"\nhivelog OTLP ingest, SQLite, {args.spans:,} spans/run in {SPANS_PER_REQUEST}-span protobuf "
        f"requests (~{size // 1024} KB), {args.concurrency} connections, median of {args.runs} runs, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'scenario':<44}{'items/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}"
        f"{'CPU µs/item: server':>21}{'others':>9}"
    )
    for kind, label in (
        ("otlp", "POST /v1/traces protobuf ×100 spans (durable)"),
        ("rest", "POST /events/batch ×100 same events (durable)"),
    ):
        print(
            f"{label:<44}{med(kind, 'per_s'):>10,.0f}{med(kind, 'p50_ms'):>9.1f}"
            f"{med(kind, 'p99_ms'):>9.1f}{med(kind, 'rss_mb'):>8.0f}"
            f"{med(kind, 'main_us'):>21.0f}{med(kind, 'workers_us'):>9.0f}"
        )
    print(f"{'decode + convert only, in process':<44}{med('decode', 'per_s'):>10,.0f}")
    print(
        "CPU µs per span in process: "
        + ", ".join(f"{stage} {med('decode', stage):.1f}" for stage in STAGES)
    )
    if not args.no_logs:
        for kind, label in (
            ("bare", "bare spans (messages sent as records)"),
            ("records", "records after spans ×100 records"),
            ("parked", "records before spans (parked) ×100"),
            ("folding", "spans after records (folding them in)"),
        ):
            print(
                f"{label:<44}{med(kind, 'per_s'):>10,.0f}{med(kind, 'p50_ms'):>9.1f}"
                f"{med(kind, 'p99_ms'):>9.1f}"
            )
        per_record = 1 / med("records", "per_s")
        per_span = 1 / med("otlp", "per_s")
        print(
            f"\na log record folded into its stored span costs {per_record * 1e6:.0f} µs, a span "
            f"with its messages {per_span * 1e6:.0f} µs: {per_record / per_span:.2f}× (target ≤ 1)"
        )
    print(
        f"\nOTLP vs REST batch of the same events: {med('otlp', 'per_s') / med('rest', 'per_s'):.2f}×; target ≥ 20,000 spans/s"
    )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "otlp.json").write_text(json.dumps({"args": vars(args), "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
