"""Property: whatever bytes or attribute values arrive, `mre serve` answers OK or INVALID_ARGUMENT,
keeps running, and still scores a valid trace afterwards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mre import semconv as sc
from mre.exporters.serve import RunningService, start_service
from mre.processor.service import TRACE_EXPORT_METHOD, ServiceConfig
from tests.test_hostile import SHAPES

GENAI_KEYS = [
    sc.GEN_AI_OPERATION_NAME,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_RETRIEVAL_DOCUMENTS,
    sc.GEN_AI_RETRIEVAL_QUERY_TEXT,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    sc.GEN_AI_REQUEST_MODEL,
    sc.GEN_AI_USAGE_INPUT_TOKENS,
    sc.GEN_AI_GUARDRAIL_VERDICT_TYPE,
    "openinference.span.kind",
    "llm.input_messages.0.message.content",
    "gen_ai.prompt.0.content",
    "retrieval.documents.0.document.content",
]
scalars = st.one_of(
    st.text(max_size=200).map(lambda s: AnyValue(string_value=s)),
    st.sampled_from(["chat", "retrieval", "run_guardrail", "[", '[{"role": 1}]', '{"x": []}', "null", "[[[]]]"]).map(
        lambda s: AnyValue(string_value=s)
    ),
    # The shapes that once made a text routine quadratic, at 8 KiB, and JSON nested past the stack.
    st.sampled_from([shape(8_192) for shape in SHAPES.values()] + ["[" * 50_000 + "]" * 50_000]).map(
        lambda s: AnyValue(string_value=json.dumps([{"role": "user", "content": s}]) if len(s) < 20_000 else s)
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=True).map(lambda f: AnyValue(double_value=f)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.binary(max_size=50).map(lambda b: AnyValue(bytes_value=b)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
    max_leaves=8,
)
spans = st.builds(
    lambda tid, sid, parent, attrs, name: Span(
        trace_id=tid,
        span_id=sid,
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        attributes=[KeyValue(key=k, value=v) for k, v in attrs],
    ),
    st.sampled_from([b"\x01" * 16, b"\x02" * 16, b"", b"\x00" * 16, b"\x03" * 15]),
    st.binary(min_size=0, max_size=9),
    st.sampled_from([b"", b"\x07" * 8, b"\x01"]),
    st.lists(st.tuples(st.sampled_from(GENAI_KEYS), values), max_size=6),
    st.text(max_size=30),
)


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    running = start_service(ServiceConfig(listen="127.0.0.1:0", grace_s=0.05, timeout_s=0.5), metrics="127.0.0.1:0")
    yield running
    running.stop()


def export(port: int, payload: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        try:
            call(payload, timeout=5)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def valid_request() -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    scope.spans.append(
        Span(trace_id=b"\x09" * 16, span_id=b"\x01" * 8, name="x", start_time_unix_nano=1, end_time_unix_nano=2)
    )
    return request.SerializeToString()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.one_of(
        st.binary(max_size=2000),
        st.builds(
            lambda data, cut, flips: bytes(b ^ f for b, f in zip(data[:cut], flips + bytes(len(data)), strict=False)),
            st.just(valid_request()),
            st.integers(0, 200),
            st.binary(max_size=40),
        ),
    )
)
def test_random_and_mutated_bytes_get_ok_or_invalid_argument(service: RunningService, payload: bytes) -> None:
    assert export(service.port, payload) in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(spans, min_size=1, max_size=5))
def test_random_attribute_values_never_break_the_service(service: RunningService, batch: list[Span]) -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(batch)
    assert export(service.port, request.SerializeToString()) is grpc.StatusCode.OK


def test_after_the_fuzzing_the_service_is_healthy_and_still_scores(service: RunningService) -> None:
    from mre.instrumentation import set_default_capture
    from tests.test_service import app_provider, send_rag_trace

    set_default_capture(True)
    try:
        provider = app_provider(service.port)
        send_rag_trace(
            provider, "Customers may request a refund within 30 days of delivery, except for customized items."
        )
        provider.force_flush()
        deadline = time.monotonic() + 15
        while not service.registry.get_sample_value("mre_interactions_total", {"service": "shop", "model": "m1"}):
            assert time.monotonic() < deadline, "valid trace not scored after fuzzing"
            time.sleep(0.05)
        provider.shutdown()
    finally:
        set_default_capture(False)
    assert service.service.healthy()
