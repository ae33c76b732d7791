"""Anthropic Messages with the real `anthropic` client against our local server: sync, async,
streaming, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import anthropic
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mre import semconv as sc
from mre.examples.llm_server import FaultyLLMServer
from mre.instrumentation.anthropic import AnthropicInstrumentor

MESSAGES = [
    {
        "role": "user",
        "content": "Context:\n[r] Refunds are paid within 5 business days.\n\nQuestion: When are refunds paid?",
    }
]
ANSWER = "Refunds are paid within 5 business days."


@pytest.fixture
def instrumented(tracer_provider: TracerProvider) -> Iterator[None]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    yield
    instrumentor.uninstrument()


@pytest.fixture
def client(llm_server: FaultyLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=llm_server.url.removesuffix("/v1"), api_key="test", max_retries=0)


@pytest.fixture
def aclient(llm_server: FaultyLLMServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=llm_server.url.removesuffix("/v1"), api_key="test", max_retries=0)


def text_of(span: object) -> str:
    (message,) = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])  # type: ignore[attr-defined]
    return "".join(p["content"] for p in message["parts"] if p["type"] == "text")


def test_messages_create_span_has_the_genai_attributes(
    instrumented: None, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    message = client.messages.create(model="claude-test", max_tokens=100, system="Answer briefly.", messages=MESSAGES)
    (span,) = span_exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert span.name == "chat claude-test"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic" and attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 100
    assert attrs[sc.GEN_AI_RESPONSE_ID] == message.id and attrs[sc.GEN_AI_RESPONSE_MODEL] == "claude-test"
    assert tuple(attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ("stop",)
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == message.usage.output_tokens
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Answer briefly."}]
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES])[0]["role"] == "user"
    assert text_of(span) == ANSWER


def test_streaming_sync_and_async(
    instrumented: None,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
    span_exporter: InMemorySpanExporter,
    capture_on: None,
) -> None:
    events = list(client.messages.create(model="claude-test", max_tokens=50, messages=MESSAGES, stream=True))
    assert events[-1].type == "message_stop"

    async def run() -> None:
        stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=MESSAGES, stream=True)
        async for _ in stream:
            pass

    asyncio.run(run())
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert text_of(span) == ANSWER
        assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == len(ANSWER.split())
        assert span.attributes[sc.GEN_AI_RESPONSE_ID].startswith("msg-")


def test_async_create_and_errors_re_raise_unchanged(
    instrumented: None,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    async def run() -> None:  # one event loop: the async client is bound to it
        await aclient.messages.create(model="claude-test", max_tokens=50, messages=MESSAGES)
        with pytest.raises(anthropic.RateLimitError):
            await aclient.messages.create(model="fail-429", max_tokens=50, messages=MESSAGES, stream=True)

    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="fail-500", max_tokens=50, messages=MESSAGES)
    asyncio.run(run())
    failed, ok, failed_async = span_exporter.get_finished_spans()
    assert ok.status.status_code is not StatusCode.ERROR
    assert failed.attributes[sc.ERROR_TYPE] == "InternalServerError"
    assert failed_async.attributes[sc.ERROR_TYPE] == "RateLimitError"
    assert failed_async.status.status_code is StatusCode.ERROR


def test_uninstrument_restores_create(tracer_provider: TracerProvider) -> None:
    original = anthropic.resources.messages.messages.Messages.create
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    assert anthropic.resources.messages.messages.Messages.create is not original
    instrumentor.uninstrument()
    assert anthropic.resources.messages.messages.Messages.create is original
