"""OTLP/gRPC: the OpenTelemetry SDK's gRPC exporters (traces and logs) against `--grpc-port`,
and a raw grpc client for the error statuses."""

from __future__ import annotations

import socket
import threading

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import Server, new_database
from tests.otlp.otlp_helpers import event_id, events_of, new_span, new_trace, pb_request, pb_span
from tests.security.keyed import create_key

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def _call(
    target: str, method: str, body: bytes, metadata: tuple[tuple[str, str], ...] = ()
) -> bytes:
    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(method)
        return export(body, metadata=metadata, timeout=30)  # type: ignore[no-any-return]


def test_sdk_grpc_exporters_store_spans_and_fold_logs(grpc_server: Server, project: str) -> None:
    resource = Resource.create({"service.name": "grpc-test", "honeyhive.project": project})
    spans = TracerProvider(resource=resource)
    spans.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(
                endpoint=grpc_server.grpc_target,
                insecure=True,
                compression=grpc.Compression.Gzip,
                timeout=30,
            )
        )
    )
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=grpc_server.grpc_target, insecure=True, timeout=30)
        )
    )
    logger = logs.get_logger("opentelemetry.instrumentation.openai_v2")
    tracer = spans.get_tracer("tests")
    with (
        tracer.start_as_current_span("agent") as root,
        tracer.start_as_current_span("chat gpt-4o-mini") as llm,
    ):
        llm.set_attribute("gen_ai.operation.name", "chat")
        llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        llm.set_attribute("gen_ai.usage.input_tokens", 7)
        llm.set_attribute("gen_ai.usage.output_tokens", 2)
        logger.emit(event_name="gen_ai.user.message", body={"content": "Bonjour — 日本"})
        logger.emit(
            event_name="gen_ai.choice",
            body={"index": 0, "finish_reason": "stop", "message": {"content": "Salut"}},
        )
    spans.shutdown()
    logs.shutdown()

    ctx = llm.get_span_context()
    trace_id = f"{ctx.trace_id:032x}"
    with grpc_server.client() as client:
        stored = {e["event_id"]: e for e in events_of(client, project)}
    model = stored[event_id(trace_id, f"{ctx.span_id:016x}")]
    assert model["event_type"] == "model" and model["metadata"]["total_tokens"] == 9
    assert model["inputs"]["chat_history"] == [{"content": "Bonjour — 日本", "role": "user"}]
    assert model["outputs"]["content"] == "Salut"
    assert model["source"] == "grpc-test"
    root_id = event_id(trace_id, f"{root.get_span_context().span_id:016x}")
    assert model["parent_id"] == root_id


def test_raw_client_answers_and_statuses(grpc_server: Server, project: str) -> None:
    meta = (("x-hivelog-project", project),)
    trace_id = new_trace()
    spans = [pb_span(trace_id, new_span(), "ok"), pb_span(trace_id, "0" * 16, "no span id")]
    answer = ExportTraceServiceResponse.FromString(
        _call(grpc_server.grpc_target, TRACES, pb_request(spans), meta)
    )
    assert answer.partial_success.rejected_spans == 1
    with grpc_server.client() as client:
        assert [e["event_name"] for e in events_of(client, project, event_type="chain")] == ["ok"]

    empty = ExportLogsServiceResponse.FromString(_call(grpc_server.grpc_target, LOGS, b"", meta))
    assert empty.partial_success.rejected_log_records == 0

    with pytest.raises(grpc.RpcError) as bad:
        _call(grpc_server.grpc_target, TRACES, b"\xff\xff\xff not protobuf", meta)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in (bad.value.details() or "")


def test_keys_are_required_and_scope_the_project(fresh_database: str, project: str) -> None:
    key = create_key(fresh_database, project)
    srv = Server(fresh_database, grpc=True)
    srv.start()
    try:
        body = pb_request([pb_span(new_trace(), new_span(), "keyed")])
        for metadata in ((), (("authorization", "Bearer hl_00000000_nope"),)):
            with pytest.raises(grpc.RpcError) as refused:
                _call(srv.grpc_target, TRACES, body, metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", f"Bearer {key}"),)
        _call(srv.grpc_target, TRACES, body, auth)
        other = pb_request([pb_span(new_trace(), new_span(), "x", {"honeyhive.project": "other"})])
        with pytest.raises(grpc.RpcError) as forbidden:
            _call(srv.grpc_target, TRACES, other, auth)
        assert forbidden.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with srv.client(headers={"Authorization": f"Bearer {key}"}) as client:
            names = [e["event_name"] for e in events_of(client, project)]
        assert names.count("keyed") == 2  # the span and its trace's session; nothing else
    finally:
        srv.stop()


def test_full_queue_is_resource_exhausted_with_retry_info(fresh_database: str) -> None:
    srv = Server(fresh_database, ["--queue-events", "1"], grpc=True)
    srv.start()
    try:
        body = pb_request([pb_span(new_trace(), new_span(), f"s{i}") for i in range(100)])
        codes: list[grpc.StatusCode] = []
        retry: list[float] = []

        def send(channel: grpc.Channel) -> None:
            try:
                channel.unary_unary(TRACES)(body, timeout=60)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                trailers = dict(exc.trailing_metadata() or ())  # type: ignore[attr-defined]
                info = RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
                retry.append(info.retry_delay.seconds)
                status = Status.FromString(trailers["grpc-status-details-bin"])
                assert status.details[0].Is(RetryInfo.DESCRIPTOR)

        with grpc.insecure_channel(srv.grpc_target) as channel:
            for _ in range(20):  # bounded: until the queue was seen full at least once
                threads = [threading.Thread(target=send, args=(channel,)) for _ in range(24)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=120)
                if grpc.StatusCode.RESOURCE_EXHAUSTED in codes:
                    break
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert retry and all(s >= 1 for s in retry)
    finally:
        srv.stop()


def test_over_the_size_limits(fresh_database: str) -> None:
    srv = Server(
        fresh_database, ["--max-body-bytes", "100000", "--max-batch-events", "10"], grpc=True
    )
    srv.start()
    try:
        too_many = pb_request([pb_span(new_trace(), new_span(), f"s{i}") for i in range(11)])
        with pytest.raises(grpc.RpcError) as many:
            _call(srv.grpc_target, TRACES, too_many)
        assert many.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert not dict(many.value.trailing_metadata() or ()).get("google.rpc.retryinfo-bin")  # type: ignore[attr-defined]
        huge = pb_request([pb_span(new_trace(), new_span(), "big", {"x": "y" * 200_000})])
        with pytest.raises(grpc.RpcError) as big:
            _call(srv.grpc_target, TRACES, huge)
        assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with srv.client() as client:
            assert client.get("/healthz").status_code == 200
    finally:
        srv.stop()


def test_an_explicit_grpc_port_that_is_taken_stops_the_server(fresh_database: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = Server(fresh_database, ["--grpc-port", str(port)])
        with pytest.raises(RuntimeError):
            srv.start(timeout=60)
        srv.stop()
    assert f"cannot listen for OTLP/gRPC on 127.0.0.1:{port}" in srv.log()


def test_several_workers_share_the_grpc_port(
    tmp_path_factory: pytest.TempPathFactory, project: str
) -> None:
    """`--workers 2` on PostgreSQL: both workers listen on the gRPC port (SO_REUSEPORT) and
    every export is stored, whichever worker took the connection."""
    with new_database("postgres", tmp_path_factory.mktemp("pg")) as db:
        srv = Server(db, ["--workers", "2"], grpc=True)
        srv.start(timeout=120)  # two worker processes importing everything on a busy machine
        try:
            names = [f"w{i}" for i in range(8)]
            for name in names:  # a channel each: new connections, spread by the kernel
                body = pb_request([pb_span(new_trace(), new_span(), name)])
                _call(srv.grpc_target, TRACES, body, (("x-hivelog-project", project),))
            with srv.client() as client:
                stored = events_of(client, project, event_type="chain")
            assert sorted(e["event_name"] for e in stored) == names
            assert "OTLP/gRPC is off" not in srv.log() and "Traceback" not in srv.log()
        finally:
            srv.stop()
