"""Shared fixtures: fresh in-memory OpenTelemetry providers per test, and the local model server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mre.examples.llm_server import FaultPlan, FaultyLLMServer
from mre.instrumentation import restore, set_default_capture, settings
from tests.otlp_receiver import Receiver


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "test-service"}))
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def log_exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()


@pytest.fixture
def logger_provider(log_exporter: InMemoryLogRecordExporter) -> LoggerProvider:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    return provider


@pytest.fixture(autouse=True)
def _instrumentation_settings() -> Iterator[None]:
    """Each test starts from the settings before it (one frozen value, put back whole)."""
    before = settings()
    yield
    restore(before)


@pytest.fixture
def capture_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    set_default_capture(True)
    yield
    set_default_capture(False)


@pytest.fixture
def llm_server() -> Iterator[FaultyLLMServer]:
    """The local OpenAI-compatible server with no faults: answers from the context."""
    with FaultyLLMServer(FaultPlan(rates={}, style=False)) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An OTLP/gRPC downstream for `mre serve` to forward to."""
    r = Receiver()
    yield r
    r.stop()
