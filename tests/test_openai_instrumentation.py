"""OpenAI chat completions, traced with the real `openai` client against our local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mre import semconv as sc
from mre.examples.llm_server import FaultyLLMServer
from mre.instrumentation.openai import CHAT, OpenAIInstrumentor

PROMPT = [
    {"role": "system", "content": "Answer from the context."},
    {
        "role": "user",
        "content": "Context:\n[refunds-v2] Refunds are paid within 5 business days.\n\n"
        "Question: When are refunds paid?",
    },
]


@pytest.fixture
def instrumented(tracer_provider: TracerProvider) -> Iterator[OpenAIInstrumentor]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def client(llm_server: FaultyLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm_server.url, api_key="test", max_retries=0)


def test_chat_completion_span_has_every_genai_attribute(
    instrumented: OpenAIInstrumentor,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    llm_server: FaultyLLMServer,
    capture_on: None,
) -> None:
    completion = client.chat.completions.create(
        model="mre-demo-model-v1", messages=PROMPT, temperature=0, max_tokens=64
    )
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat mre-demo-model-v1"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    port = int(llm_server.url.split(":")[2].split("/")[0])
    inputs = json.loads(attrs.pop(sc.GEN_AI_INPUT_MESSAGES))
    outputs = json.loads(attrs.pop(sc.GEN_AI_OUTPUT_MESSAGES))
    assert attrs.pop(sc.GEN_AI_USAGE_INPUT_TOKENS) == completion.usage.prompt_tokens
    assert attrs.pop(sc.GEN_AI_USAGE_OUTPUT_TOKENS) == completion.usage.completion_tokens
    assert tuple(attrs.pop(sc.GEN_AI_RESPONSE_FINISH_REASONS)) == ("stop",)
    assert attrs == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "mre-demo-model-v1",
        sc.GEN_AI_REQUEST_TEMPERATURE: 0,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: port,
        sc.GEN_AI_RESPONSE_MODEL: "mre-demo-model-v1",
        sc.GEN_AI_RESPONSE_ID: completion.id,
    }
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "Answer from the context."}]}
    assert inputs[1]["role"] == "user"
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": completion.choices[0].message.content}],
            "finish_reason": "stop",
        }
    ]


def test_without_content_capture_no_message_text_is_recorded(
    instrumented: OpenAIInstrumentor,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    client.chat.completions.create(model="m", messages=PROMPT)
    (span,) = span_exporter.get_finished_spans()
    assert sc.GEN_AI_INPUT_MESSAGES not in span.attributes
    assert sc.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_api_errors_reach_the_app_unchanged_and_mark_the_span(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="m", messages="not a list")  # type: ignore[arg-type]
    assert raised.value.status_code == 400
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[sc.ERROR_TYPE] == "BadRequestError"
    assert span.status.status_code is StatusCode.ERROR


def test_errors_inside_the_instrumentation_never_reach_the_application(
    instrumented: OpenAIInstrumentor,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    capture_on: None,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug in mre")

    # Break request parsing: the call must go through untraced, same result.
    monkeypatch.setattr(CHAT, "request", broken)
    first = client.chat.completions.create(model="m", messages=PROMPT)
    assert first.choices[0].message.content
    assert span_exporter.get_finished_spans() == ()
    # Break response parsing: the call returns its result and the span still ends.
    monkeypatch.undo()
    monkeypatch.setattr(CHAT, "response", broken)
    second = client.chat.completions.create(model="m", messages=PROMPT)
    assert second.choices[0].message.content == first.choices[0].message.content
    (span,) = span_exporter.get_finished_spans()
    assert span.end_time is not None


def test_uninstrument_restores_the_original_method(tracer_provider: TracerProvider) -> None:
    original = openai.resources.chat.completions.completions.Completions.create
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    assert openai.resources.chat.completions.completions.Completions.create is not original
    instrumentor.uninstrument()
    assert openai.resources.chat.completions.completions.Completions.create is original


def test_registered_under_the_opentelemetry_instrumentor_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert found.get("mre_openai") == "mre.instrumentation.openai:OpenAIInstrumentor"


def test_opentelemetry_instrument_picks_it_up_with_no_code_change(tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "instrument-e2e",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        # Other openai instrumentations installed beside ours register as "openai": keep this test to ours.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,httpx,urllib,requests,mre_guardrails",
    }
    env.pop("OPENAI_BASE_URL", None)
    result = subprocess.run(
        [
            str(bindir / "opentelemetry-instrument"),
            sys.executable,
            "-m",
            "mre.examples.rag_app",
            "--questions",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    spans = _console_spans(result.stdout)
    names = {s["name"] for s in spans}
    assert {
        "chat mre-demo-model-v1",
        "retrieval policies",
        "run_guardrail contact-details",
        "rag.answer",
    } <= names
    chat = next(s for s in spans if s["name"] == "chat mre-demo-model-v1")
    assert chat["attributes"][sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert "Question:" in chat["attributes"][sc.GEN_AI_INPUT_MESSAGES]
    assert len({s["context"]["trace_id"] for s in spans}) == 1


def _console_spans(stdout: str) -> list[dict]:
    """The console exporter prints one JSON object per span, pretty-printed."""
    decoder = json.JSONDecoder()
    spans, i = [], 0
    while (start := stdout.find("{", i)) != -1:
        try:
            obj, end = decoder.raw_decode(stdout, start)
        except ValueError:
            i = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj and "name" in obj:
            spans.append(obj)
        i = end
    return spans
