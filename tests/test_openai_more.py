"""OpenAI beyond plain chat: streaming (sync and async), tool calls, the Responses API, embeddings,
moderations as a guardrail, error paths and the semconv metrics. Real `openai` client, local server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mre import semconv as sc
from mre.examples.llm_server import FaultyLLMServer
from mre.instrumentation import checking
from mre.instrumentation.openai import OpenAIInstrumentor

PROMPT = [
    {
        "role": "user",
        "content": "Context:\n[r] Refunds are paid within 5 business days.\n\nQuestion: When are refunds paid?",
    }
]
ANSWER = "Refunds are paid within 5 business days."


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def instrumented(tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader) -> Iterator[None]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[metric_reader]),
        skip_dep_check=True,
    )
    yield
    instrumentor.uninstrument()


@pytest.fixture
def client(llm_server: FaultyLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm_server.url, api_key="test", max_retries=0)


@pytest.fixture
def aclient(llm_server: FaultyLLMServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=llm_server.url, api_key="test", max_retries=0)


def output_text(span: object) -> str:
    messages = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])  # type: ignore[attr-defined]
    return "".join(p.get("content", "") for p in messages[0]["parts"] if p["type"] == "text")


def test_a_stream_ends_its_span_when_consumed_with_full_text_and_usage(
    instrumented: None, client: openai.OpenAI, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    stream = client.chat.completions.create(
        model="m", messages=PROMPT, stream=True, stream_options={"include_usage": True}
    )
    assert span_exporter.get_finished_spans() == ()  # still open while the app reads
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    (span,) = span_exporter.get_finished_spans()
    assert text == ANSWER and output_text(span) == ANSWER
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == len(ANSWER.split())
    assert tuple(span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ("stop",)


def test_a_stream_closed_early_still_ends_its_span(
    instrumented: None, client: openai.OpenAI, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    with client.chat.completions.create(model="m", messages=PROMPT, stream=True) as stream:
        next(iter(stream))
    (span,) = span_exporter.get_finished_spans()
    assert span.end_time is not None


def test_async_calls_and_async_streams_are_traced(
    instrumented: None, aclient: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    async def run() -> str:
        await aclient.chat.completions.create(model="m", messages=PROMPT)
        stream = await aclient.chat.completions.create(model="m", messages=PROMPT, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == ANSWER
    plain, streamed = span_exporter.get_finished_spans()
    assert output_text(plain) == output_text(streamed) == ANSWER


def test_tool_calls_are_recorded_as_parts_also_when_streamed(
    instrumented: None, client: openai.OpenAI, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    tools = [{"type": "function", "function": {"name": "lookup_policy", "parameters": {"type": "object"}}}]
    client.chat.completions.create(model="m", messages=PROMPT, tools=tools, tool_choice="required")
    stream = client.chat.completions.create(
        model="m", messages=PROMPT, tools=tools, tool_choice="required", stream=True
    )
    list(stream)
    for span in span_exporter.get_finished_spans():
        (message,) = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
        (part,) = message["parts"]
        assert part["type"] == "tool_call" and part["name"] == "lookup_policy"
        assert json.loads(part["arguments"]) == {"question": "When are refunds paid?"}
        assert message["finish_reason"] == "tool_calls"


def test_the_responses_api_streamed_or_not(
    instrumented: None, client: openai.OpenAI, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    response = client.responses.create(model="m", input=PROMPT[0]["content"], instructions="Answer briefly.")
    assert response.output_text == ANSWER
    list(client.responses.create(model="m", input=PROMPT[0]["content"], stream=True))
    plain, streamed = span_exporter.get_finished_spans()
    for span in (plain, streamed):
        assert span.name == "chat m" and output_text(span) == ANSWER
        assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert json.loads(plain.attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "Answer briefly."}
    ]


def test_embeddings_span(instrumented: None, client: openai.OpenAI, span_exporter: InMemorySpanExporter) -> None:
    client.embeddings.create(model="text-embedding-3-small", input=["refund policy"])
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 16


def test_moderation_is_a_guardrail_with_verdict_categories_and_target(
    instrumented: None, client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    client.moderations.create(input="Where is my refund?")
    with checking("output"):
        client.moderations.create(input="I will attack you")
    allowed, denied = span_exporter.get_finished_spans()
    assert allowed.name == "run_guardrail openai.moderation"
    assert allowed.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "allow"
    # Unmarked, the target is left to the processor (the check's place before or after the answer).
    assert sc.GEN_AI_GUARDRAIL_TARGET_TYPE not in allowed.attributes
    assert (
        denied.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE],
        denied.attributes[sc.GEN_AI_GUARDRAIL_TARGET_TYPE],
    ) == ("deny", "output")
    assert tuple(denied.attributes[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY]) == ("violence",)
    assert denied.attributes["openai.moderation.flagged"] is True


@pytest.mark.parametrize(("status", "error"), [(500, openai.InternalServerError), (429, openai.RateLimitError)])
def test_api_errors_sync_async_and_streaming_re_raise_unchanged(
    instrumented: None,
    client: openai.OpenAI,
    aclient: openai.AsyncOpenAI,
    span_exporter: InMemorySpanExporter,
    status: int,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        client.chat.completions.create(model=f"fail-{status}", messages=PROMPT)
    with pytest.raises(error):
        client.chat.completions.create(model=f"fail-{status}", messages=PROMPT, stream=True)
    with pytest.raises(error):
        asyncio.run(aclient.chat.completions.create(model=f"fail-{status}", messages=PROMPT))
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 3
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR and span.attributes[sc.ERROR_TYPE] == error.__name__


def test_duration_and_token_metrics_per_semconv(
    instrumented: None, client: openai.OpenAI, metric_reader: InMemoryMetricReader
) -> None:
    client.chat.completions.create(model="m", messages=PROMPT)
    from mre.instrumentation._metrics import RECORDER

    RECORDER.flush()  # measurements are recorded off the app's thread: record what is pending now
    data = metric_reader.get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    (point,) = duration.data.data_points
    assert (
        point.attributes[sc.GEN_AI_OPERATION_NAME] == "chat" and point.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"
    )
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"].data.data_points}
    assert tokens["output"] == len(ANSWER.split()) and tokens["input"] > 0
