"""Instrumentation state is one per process: instrumenting every library (again and again) starts one
recorder thread, and the GenAI client metrics are recorded with the app's context, so their
exemplars point at the span that measured."""

from __future__ import annotations

import threading

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from mre.examples.llm_server import FaultyLLMServer
from mre.instrumentation import instrument, uninstrument
from mre.instrumentation._metrics import RECORDER, Instruments


def _recorders() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "mre-genai-metrics")


def test_instrumenting_again_and_again_starts_no_new_thread() -> None:
    provider = TracerProvider()
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    for _ in range(3):
        instrument(tracer_provider=provider, meter_provider=meters, capture_content=False)
        uninstrument()
    RECORDER.record(Instruments.of(meters).duration, 0.1, {})  # the thread starts with the first measurement
    assert _recorders() == 1
    assert Instruments.of(meters) is Instruments.of(meters)


def test_client_metrics_carry_exemplars_of_the_span_that_measured(llm_server: FaultyLLMServer) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    instrument(tracer_provider=provider, meter_provider=meters, libraries=["openai"], capture_content=False)
    try:
        client = openai.OpenAI(base_url=llm_server.url, api_key="x", max_retries=0)
        with provider.get_tracer("app").start_as_current_span("request") as request:
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hello"}])
        Instruments.of(meters).flush()
        data = reader.get_metrics_data()
    finally:
        uninstrument()
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "gen_ai.client.operation.duration"
        for p in m.data.data_points
    ]
    assert points and points[0].exemplars, "no exemplar: recorded without the app's context"
    assert points[0].exemplars[0].trace_id == request.get_span_context().trace_id


def test_settings_are_one_frozen_value_resolved_explicit_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from mre.instrumentation import capture_content, configure, set_default_capture, set_redactor, settings
    from mre.instrumentation._redaction import redact
    from mre.instrumentation._settings import metadata_keys, set_metadata_keys

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().capture_content = True  # type: ignore[misc]
    # capture: the default, then the environment over it, then code over both
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    set_default_capture(False)
    assert capture_content() is False
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    assert capture_content() is True
    configure(capture_content=False)
    assert capture_content() is False
    # redaction: MRE_REDACT, unless code set a hook (or None: off)
    monkeypatch.setenv("MRE_REDACT", "builtin")
    assert "jane@example.com" not in redact("mail jane@example.com")
    set_redactor(None)
    assert redact("mail jane@example.com") == "mail jane@example.com"
    # metadata keys: MRE_METADATA_KEYS, unless set in code
    monkeypatch.setenv("MRE_METADATA_KEYS", "updated_at=modified")
    assert dict(metadata_keys()) == {"updated_at": "modified"}
    # the environment is read once (this runs per document on the app's thread), again after a change
    monkeypatch.setenv("MRE_METADATA_KEYS", "updated_at=changed")
    assert dict(metadata_keys()) == {"updated_at": "modified"}
    configure()
    assert dict(metadata_keys()) == {"updated_at": "changed"}
    set_metadata_keys({"acl": "groups"})
    assert dict(metadata_keys()) == {"acl": "groups"}


def test_instrument_decides_capture_in_code_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mre.instrumentation import capture_content, instrument, uninstrument

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    instrument(libraries=[])
    assert capture_content() is False  # not said in code: the environment decides
    instrument(libraries=[], capture_content=True)
    assert capture_content() is True  # said in code: that wins
    uninstrument()
