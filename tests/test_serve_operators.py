"""`mre serve` as operators run it: the SDK's OTLP/HTTP exporter (protobuf, JSON, gzip), application
metrics accepted and dropped, a root span whose parent is remote scored without waiting for the
timeout, a port that is taken refused, and scorers' own LLM calls never scored as answers."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from mre.exporters.serve import RunningService, start_service
from mre.processor.intake import IGNORED
from mre.processor.service import ServiceConfig
from tests.helpers import FAITHFULNESS_THRESHOLD
from tests.otlp_receiver import Receiver, attrs
from tests.test_service import QUESTION, interactions, send_rag_trace, wait_for


@pytest.fixture
def service(receiver: Receiver) -> Iterator[RunningService]:
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", listen_http="127.0.0.1:0", grace_s=0.2, timeout_s=30.0),
        metrics="127.0.0.1:0",
        forward=f"127.0.0.1:{receiver.port}",
    )
    yield running
    running.stop(drain_timeout_s=5)


def http_provider(running: RunningService, **exporter: object) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    endpoint = f"http://127.0.0.1:{running.service.http_port}/v1/traces"
    provider.add_span_processor(
        BatchSpanProcessor(HttpSpanExporter(endpoint=endpoint, **exporter), schedule_delay_millis=50)  # type: ignore[arg-type]
    )
    return provider


def test_the_sdks_http_protobuf_exporter_is_scored_and_forwarded(
    service: RunningService, receiver: Receiver, capture_on: None
) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    provider = http_provider(service, compression=Compression.Gzip)
    send_rag_trace(provider, "Customers may request a refund within 45 days of delivery.")
    provider.force_flush()
    wait_for(lambda: interactions(service) == 1)
    wait_for(lambda: len(receiver.spans) == 4)
    chat = next(s for s in receiver.spans if s.name == "chat m1")
    assert attrs(chat)["mre.score.faithfulness"] < FAITHFULNESS_THRESHOLD
    provider.shutdown()


def _post(running: RunningService, path: str, body: bytes, content_type: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.service.http_port}{path}",
        body,
        {"Content-Type": content_type, **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _json_trace(trace_id: str, answer: str) -> dict[str, object]:
    def kv(key: str, value: str) -> dict[str, object]:
        return {"key": key, "value": {"stringValue": value}}

    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}])
    output = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}])
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", "shop")]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": "00f067aa0ba902b7",
                                "name": "chat m1",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                                "attributes": [
                                    kv("gen_ai.operation.name", "chat"),
                                    kv("gen_ai.request.model", "m1"),
                                    kv("gen_ai.input.messages", messages),
                                    kv("gen_ai.output.messages", output),
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_an_otlp_json_request_is_scored_with_its_hex_ids(service: RunningService, receiver: Receiver) -> None:
    trace_id = "5b8efff798038103d269b633813fc60c"
    body = json.dumps(_json_trace(trace_id, "Refunds are possible within 30 days.")).encode()
    status, response = _post(
        service, "/v1/traces", gzip.compress(body), "application/json", **{"Content-Encoding": "gzip"}
    )
    assert status == 200 and json.loads(response) == {}
    wait_for(lambda: interactions(service) == 1)
    wait_for(lambda: len(receiver.spans) == 1)
    assert receiver.spans[0].trace_id.hex() == trace_id


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "expected"),
    [
        (b"\xff\xfe not protobuf", "application/x-protobuf", {}, 400),
        (b"{not json", "application/json", {}, 400),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "application/json", {}, 400),
        (b"x", "text/plain", {}, 415),
        (gzip.compress(b"\0" * (2 * 1024 * 1024)), "application/x-protobuf", {"Content-Encoding": "gzip"}, 413),
        (b"not gzip", "application/x-protobuf", {"Content-Encoding": "gzip"}, 400),
        (b"", "application/x-protobuf", {"Content-Length": "-5"}, 411),
    ],
    ids=["protobuf", "json", "json-ids", "content-type", "gzip-bomb", "bad-gzip", "negative-length"],
)
def test_bad_http_requests_get_a_clear_status_and_the_service_survives(
    receiver: Receiver, body: bytes, content_type: str, headers: dict[str, str], expected: int
) -> None:
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", listen_http="127.0.0.1:0", max_message_bytes=1024 * 1024),
        metrics="127.0.0.1:0",
    )
    from mre.processor.health import BAD_INPUT

    try:
        before = sum(BAD_INPUT.snapshot().values())
        status, _ = _post(running, "/v1/traces", body, content_type, **headers)
        assert status == expected
        assert sum(BAD_INPUT.snapshot().values()) == before + 1  # every refusal counted, once
        assert _post(running, "/v1/traces", b"", "application/x-protobuf")[0] == 200  # still serving
    finally:
        running.stop(drain_timeout_s=2)


def test_the_bearer_token_is_checked_over_http_too() -> None:
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", listen_http="127.0.0.1:0", token="s3cret"), metrics="127.0.0.1:0"
    )
    try:
        assert _post(running, "/v1/traces", b"", "application/x-protobuf")[0] == 401
        assert _post(running, "/v1/traces", b"", "application/x-protobuf", Authorization="bearer s3cret")[0] == 200
    finally:
        running.stop(drain_timeout_s=2)


def test_application_metrics_are_accepted_and_counted_not_refused(service: RunningService) -> None:
    before = IGNORED.snapshot().get("metrics", 0)
    exporter = OTLPMetricExporter(endpoint=f"http://127.0.0.1:{service.service.http_port}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    meters = MeterProvider(metric_readers=[reader])
    counter = meters.get_meter("app").create_counter("requests")
    counter.add(3, {"route": "a"})
    counter.add(1, {"route": "b"})
    assert reader.force_flush() is True  # a refusal would make this False (and the SDK retry and log)
    assert IGNORED.snapshot()["metrics"] - before == 2  # two data points
    meters.shutdown()
    text = urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=5).read().decode()
    assert 'mre_processor_ignored_total{signal="metrics"}' in text


def test_a_root_with_a_remote_parent_is_scored_within_the_grace_period(
    service: RunningService, capture_on: None
) -> None:
    # The RAG service is called by a traced frontend: its root span's parent is in another process.
    provider = http_provider(service)
    frontend = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True, trace_flags=TraceFlags(1)
    )
    started = time.monotonic()
    with trace.use_span(NonRecordingSpan(frontend)):
        send_rag_trace(provider, "Customers may request a refund within 30 days of delivery.")
    provider.force_flush()
    wait_for(lambda: interactions(service) == 1, timeout=10)
    assert time.monotonic() - started < 5  # the trace timeout is 30 s
    provider.shutdown()


def test_a_second_mre_serve_on_the_same_port_refuses_to_start(service: RunningService) -> None:
    taken = f"127.0.0.1:{service.port}"
    with pytest.raises(OSError, match="in use"):
        start_service(ServiceConfig(listen=taken), metrics="127.0.0.1:0")
    with pytest.raises(OSError, match="OTLP/HTTP"):
        start_service(
            ServiceConfig(listen="127.0.0.1:0", listen_http=f"127.0.0.1:{service.service.http_port}"),
            metrics="127.0.0.1:0",
        )


def test_a_scorers_own_llm_call_is_never_scored_as_an_answer(llm_server: object, capture_on: None) -> None:
    # A judge (or any scorer) that calls an instrumented client while scoring: the worker suppresses
    # instrumentation, so its call makes no span and no second interaction.
    import openai

    from mre.exporters.embedded import install_embedded
    from mre.instrumentation.openai import OpenAIInstrumentor
    from mre.model import Score
    from mre.processor.scorers import default_scorers

    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    client = openai.OpenAI(base_url=llm_server.url, api_key="x", max_retries=0)  # type: ignore[attr-defined]
    judged = []

    def judge(interaction: object) -> Score:
        client.chat.completions.create(model="judge", messages=[{"role": "user", "content": "is it faithful?"}])
        judged.append(interaction)
        return Score("llm_judge", 1.0, "faithful", "the judge says so")

    setup = install_embedded(provider, scorers={**default_scorers(), "llm_judge": judge}, grace_s=0.05)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
    try:
        with provider.get_tracer("app").start_as_current_span("request"):
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": QUESTION}])
        provider.force_flush()
        wait_for(lambda: len(judged) >= 1)
        time.sleep(0.5)  # a traced judge call would have come back as a trace of its own by now
        provider.force_flush()
        assert len(judged) == 1
        total = sum(
            s.value
            for m in setup.registry.collect()
            if m.name == "mre_interactions"
            for s in m.samples
            if s.name.endswith("_total")
        )
        assert total == 1
    finally:
        instrumentor.uninstrument()
        setup.close()
        provider.shutdown()


def test_an_idle_http_connection_is_closed_rather_than_held() -> None:
    import socket

    from mre.processor.intake import Intake
    from mre.processor.otlp_http import OtlpHttpReceiver

    receiver = OtlpHttpReceiver("127.0.0.1", 0, Intake(None), lambda _: True, 1024, 4, idle_timeout_s=0.3)  # type: ignore[arg-type]
    receiver.start()
    try:
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\n")  # a header line, then nothing
            started = time.monotonic()
            assert sock.recv(1024) == b""  # the server hung up
            assert time.monotonic() - started < 3
    finally:
        receiver.stop()


def test_serve_runsone_blas_thread_unless_the_operator_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess
    import sys

    from mre.cli import serve

    for name in serve.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    serve.one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"  # the operator's word stands
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
    # numpy reads them once, when it loads: nothing `mre serve` imports before its run() may load it.
    code = (
        "import sys, mre.cli, mre.cli.serve, mre.serve_config, mre.slo_spec; "
        "mre.cli.build_parser(); sys.exit('numpy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_serve_freezes_its_start_up_heap_and_collects_the_young_generation_less_often() -> None:
    import gc

    from mre.cli import serve

    saved = gc.get_threshold()
    try:
        serve.tune_gc()
        assert gc.get_threshold() == (serve.GC_YOUNG_THRESHOLD, *saved[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
