"""`mre serve` behind the real OTLP gRPC exporter of the SDK: scores, enrichment, forwarding, bad input."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from mre import semconv as sc
from mre.exporters.serve import RunningService, start_service
from mre.instrumentation import generation, guardrail, retrieval
from mre.model import Document
from mre.processor.service import TRACE_EXPORT_METHOD, ServiceConfig
from tests.helpers import FAITHFULNESS_THRESHOLD, free_port
from tests.otlp_receiver import Receiver, attrs

CONTEXT = "Customers may request a refund within 30 days of delivery, except for customized items."
QUESTION = "How many days do customers have to request a refund?"


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def service(receiver: Receiver) -> Iterator[RunningService]:
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", grace_s=0.2, timeout_s=5.0),
        metrics="127.0.0.1:0",
        forward=f"127.0.0.1:{receiver.port}",
    )
    yield running
    running.stop(drain_timeout_s=5)


def app_provider(port: int, headers: dict[str, str] | None = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, headers=headers)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    return provider


def send_rag_trace(provider: TracerProvider, answer: str) -> str:
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("request") as root:
        with retrieval("kb", query=QUESTION, tracer_provider=provider) as r:
            r.record_documents([Document("refunds-v2", CONTEXT, 0.9)])
        with generation("m1", provider="openai", tracer_provider=provider) as g:
            g.record_output(answer, response_id="resp-7")
        with guardrail("pii", tracer_provider=provider) as gr:
            gr.record_verdict("allow")
    return format(root.get_span_context().trace_id, "032x")


def interactions(running: RunningService) -> float:
    return running.registry.get_sample_value("mre_interactions_total", {"service": "shop", "model": "m1"}) or 0.0


def score_count(running: RunningService) -> float:
    """Scores recorded so far: each is one evaluation record forwarded."""
    return sum(
        s.value
        for family in running.registry.collect()
        if family.name == "mre_evaluation_score"
        for s in family.samples
        if s.name == "mre_evaluation_score_count"
    )


def score_traces(running: RunningService, provider: TracerProvider, *answers: str) -> list[str]:
    """One RAG trace per answer through the provider's exporter; returns once the service scored them all."""
    trace_ids = [send_rag_trace(provider, answer) for answer in answers]
    provider.force_flush()
    wait_for(lambda: interactions(running) == len(trace_ids))
    return trace_ids


def test_spans_from_the_sdk_exporter_are_scored_enriched_and_forwarded(
    service: RunningService, receiver: Receiver, capture_on: None
) -> None:
    provider = app_provider(service.port)
    (trace_id,) = score_traces(service, provider, "Customers may request a refund within 45 days of delivery.")
    wait_for(lambda: len(receiver.spans) == 4 and len(receiver.logs) >= 3)
    generation_span = next(s for s in receiver.spans if s.name == "chat m1")
    enriched = attrs(generation_span)
    assert enriched["mre.score.faithfulness"] < FAITHFULNESS_THRESHOLD
    assert enriched["mre.score.abstention"] == 1.0
    assert enriched[sc.MRE_FAILURE_CAUSE] == "generation"
    assert all(not any(k.startswith("mre.score.") for k in attrs(s)) for s in receiver.spans if s.name != "chat m1")
    for record in receiver.logs:
        assert record.event_name == "gen_ai.evaluation.result"
        assert record.trace_id.hex() == trace_id and record.span_id == generation_span.span_id
    names = {attrs(r)[sc.GEN_AI_EVALUATION_NAME] for r in receiver.logs}
    assert {"faithfulness", "answer_relevance", "abstention", "safety"} <= names
    assert len(names) == len(receiver.logs)  # one record per score
    provider.shutdown()


def test_health_and_metrics_endpoints(service: RunningService) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/healthz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert "mre_processor_spans_received_total" in body and "mre_forward_queue_items" in body


def test_a_scrape_asking_for_some_families_runs_only_their_collectors(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mre.processor.drift as drift
    from benchmarks.scoring import make_interactions
    from mre.processor.pipeline import ScoringPipeline

    tests: list[str] = []
    real_compare, real_questions = drift.compare, drift.compare_questions
    monkeypatch.setattr(drift, "compare", lambda *a: tests.append("scores") or real_compare(*a))
    monkeypatch.setattr(drift, "compare_questions", lambda *a: tests.append("questions") or real_questions(*a))
    pipeline = service.service.worker.pipeline
    for evaluation in ScoringPipeline().score_many(make_interactions(650)):
        pipeline.deliver(evaluation)  # a window of 500 and 150 before it: both drift tests can run

    def scrape(query: str = "") -> str:
        url = f"http://127.0.0.1:{service.metrics_port}/metrics{query}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    one = scrape("?name[]=mre_interactions_total")
    assert "mre_interactions_total" in one and "mre_drift" not in one and "mre_question_drift" not in one
    assert tests == []
    # Every collector is known by the names it exports: a scrape can ask for the drift families too.
    asked = scrape("?name[]=mre_drift_p_value&name[]=mre_question_drift_p_value")
    assert "\nmre_drift_p_value{" in asked and "\nmre_question_drift_p_value{" in asked
    assert "mre_interactions_total" not in asked
    assert "scores" in tests and "questions" in tests
    # Every series a whole scrape shows can be asked for by name (a collector that yielded a family
    # only later than at registration would be missing here).
    shown = {s.name for family in service.registry.collect() for s in family.samples}
    for name in sorted(shown):
        restricted = service.registry.restricted_registry([name])
        assert any(s.name == name for family in restricted.collect() for s in family.samples), name


def raw_export(port: int, payload: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        return call(payload, timeout=5, metadata=metadata or None)  # type: ignore[no-any-return]


def test_malformed_protobuf_gets_invalid_argument_and_the_service_survives(
    service: RunningService, capture_on: None
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        raw_export(service.port, b"\xff\xff\xff not a protobuf")
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed" in (raised.value.details() or "")
    assert service.registry.get_sample_value("mre_processor_bad_input_total", {"kind": "malformed_request"}) >= 1
    provider = app_provider(service.port)
    score_traces(service, provider, CONTEXT)
    provider.shutdown()


def test_invalid_spans_are_rejected_in_partial_success_while_the_rest_are_scored(
    service: RunningService, capture_on: None
) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    send_rag_trace(provider, CONTEXT)
    request = encode_spans(memory.get_finished_spans())
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x00" * 8  # one invalid span
    response = ExportTraceServiceResponse.FromString(raw_export(service.port, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert "span_id" in response.partial_success.error_message
    wait_for(lambda: interactions(service) == 1)


def test_a_bearer_token_is_enforced(receiver: Receiver, capture_on: None) -> None:
    running = start_service(ServiceConfig(listen="127.0.0.1:0", grace_s=0.1, token="s3cret"), metrics="127.0.0.1:0")
    try:
        with pytest.raises(grpc.RpcError) as raised:
            raw_export(running.port, b"")
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
        raw_export(running.port, b"", metadata=(("authorization", "Bearer s3cret"),))
        provider = app_provider(running.port, headers={"authorization": "Bearer s3cret"})
        score_traces(running, provider, CONTEXT)
        provider.shutdown()
    finally:
        running.stop()


def test_requests_over_the_size_limit_are_refused(receiver: Receiver) -> None:
    running = start_service(ServiceConfig(listen="127.0.0.1:0", max_message_bytes=1024), metrics="127.0.0.1:0")
    try:
        with pytest.raises(grpc.RpcError) as raised:
            raw_export(running.port, b"\x0a" + b"\x00" * 4096)
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        running.stop()


def test_a_dead_downstream_loses_nothing_below_the_queue_bound(capture_on: None) -> None:
    port = free_port()
    receiver = Receiver(port)
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", grace_s=0.1), metrics="127.0.0.1:0", forward=f"127.0.0.1:{port}"
    )
    provider = app_provider(running.port)
    try:
        send_rag_trace(provider, CONTEXT)
        provider.force_flush()
        wait_for(lambda: interactions(running) == 1)
        first_records = score_count(running)  # one evaluation record per score of the first answer
        wait_for(lambda: len(receiver.spans) == 4 and len(receiver.logs) == first_records)
        receiver.stop()  # the downstream dies
        for _ in range(5):
            send_rag_trace(provider, CONTEXT)
        provider.force_flush()
        wait_for(lambda: interactions(running) == 6)
        assert running.forwarder is not None
        wait_for(lambda: running.forwarder is not None and running.forwarder.queued_items > 0)
        revived = Receiver(port)  # and comes back on the same address
        scores = score_count(running)
        # Every span and one evaluation record per score reach the revived downstream.
        wait_for(lambda: len(revived.spans) == 20 and len(revived.logs) == scores - first_records, timeout=30)
        assert running.forwarder.stats.dropped == {}
        assert running.forwarder.stats.retries > 0
        revived.stop()
    finally:
        provider.shutdown()
        running.stop(drain_timeout_s=1)


def test_a_huge_attribute_is_not_read_but_the_rest_of_the_span_is_scored(
    service: RunningService, capture_on: None
) -> None:
    from mre.processor.otlp import MAX_ATTRIBUTE_BYTES

    provider = app_provider(service.port)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("request"):
        with retrieval("kb", query=QUESTION, tracer_provider=provider) as r:
            r.record_documents([Document("refunds-v2", CONTEXT, 0.9)])
        with generation("m1", provider="openai", tracer_provider=provider) as g:
            g.record_output("Customers may request a refund within 30 days of delivery, except for customized items.")
            assert g.span is not None
            g.span.set_attribute("app.debug_dump", "x" * (MAX_ATTRIBUTE_BYTES + 1))
    provider.force_flush()
    wait_for(lambda: interactions(service) == 1)
    assert service.registry.get_sample_value("mre_processor_bad_input_total", {"kind": "oversized_attribute"}) >= 1
    provider.shutdown()


def test_tls_listener_accepts_the_sdk_exporter_with_the_server_certificate(tmp_path: Path, capture_on: None) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    running = start_service(
        ServiceConfig(listen="localhost:0", grace_s=0.1, tls_cert=cert.read_bytes(), tls_key=key.read_bytes()),
        metrics="127.0.0.1:0",
    )
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        exporter = OTLPSpanExporter(
            endpoint=f"localhost:{running.port}",
            insecure=False,
            credentials=grpc.ssl_channel_credentials(cert.read_bytes()),
        )
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
        score_traces(running, provider, CONTEXT)
        provider.shutdown()
    finally:
        running.stop()
