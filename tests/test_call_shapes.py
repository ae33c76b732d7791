"""Every way an app (or a framework on its behalf) calls the real clients gives one chat span with
the answer on it: plain, raw (``with_raw_response``, what langchain-openai and langchain-anthropic
call), streaming responses, ``parse``, the SDKs' stream helpers, beta resources, sync and async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import mre.instrumentation
from mre import semconv as sc
from mre.examples.llm_server import FaultyLLMServer

MESSAGES = [
    {
        "role": "user",
        "content": "Context:\n[r] Refunds are paid within 5 business days.\n\nQuestion: When are refunds paid?",
    }
]
ANSWER = "Refunds are paid within 5 business days."
MODEL = "mre-demo-model-v1"


@pytest.fixture
def instrumented(tracer_provider: TracerProvider, capture_on: None) -> Iterator[None]:
    mre.instrumentation.instrument(tracer_provider=tracer_provider, libraries=["openai", "anthropic"])
    yield
    mre.instrumentation.uninstrument()


def chat_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get(sc.GEN_AI_OPERATION_NAME) == "chat"
        and s.instrumentation_scope.name.startswith("mre")
    ]


def answer_of(span: ReadableSpan) -> str:
    outputs = json.loads(str((span.attributes or {})[sc.GEN_AI_OUTPUT_MESSAGES]))
    return "".join(p.get("content", "") for p in outputs[0]["parts"] if p.get("type") == "text")


def run(call: Any) -> Any:
    return asyncio.run(call()) if asyncio.iscoroutinefunction(call) else call()


def openai_shapes(url: str) -> dict[str, Callable[..., Any]]:
    sync = openai.OpenAI(base_url=url, api_key="t", max_retries=0)
    aio = openai.AsyncOpenAI(base_url=url, api_key="t", max_retries=0)
    kw: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}

    def raw_stream() -> str:
        stream = sync.chat.completions.with_raw_response.create(**kw, stream=True).parse()
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    def streaming_response() -> str:
        with sync.chat.completions.with_streaming_response.create(**kw) as response:
            return response.parse().choices[0].message.content or ""

    def streaming_response_stream() -> str:
        with sync.chat.completions.with_streaming_response.create(**kw, stream=True) as response:
            return "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)

    def stream_helper() -> str:
        with sync.chat.completions.stream(**kw) as stream:
            for _ in stream:
                pass
            return stream.get_final_completion().choices[0].message.content or ""

    async def async_raw() -> str:
        response = await aio.chat.completions.with_raw_response.create(**kw)
        return response.parse().choices[0].message.content or ""

    async def async_streaming_response() -> str:
        async with aio.chat.completions.with_streaming_response.create(**kw) as response:
            return (await response.parse()).choices[0].message.content or ""

    async def async_parse() -> str:
        return (await aio.chat.completions.parse(**kw)).choices[0].message.content or ""

    def responses_raw() -> str:
        return sync.responses.with_raw_response.create(model=MODEL, input=MESSAGES[0]["content"]).parse().output_text

    def responses_stream() -> str:
        with sync.responses.stream(model=MODEL, input=MESSAGES[0]["content"]) as stream:
            for _ in stream:
                pass
            return stream.get_final_response().output_text

    async def async_responses_raw() -> str:
        response = await aio.responses.with_raw_response.create(model=MODEL, input=MESSAGES[0]["content"])
        return response.parse().output_text

    async def async_responses_streaming() -> str:
        async with aio.responses.with_streaming_response.create(model=MODEL, input=MESSAGES[0]["content"]) as r:
            return (await r.parse()).output_text

    def root_raw() -> str:  # langchain-openai's Responses path: client.with_raw_response.responses
        return sync.with_raw_response.responses.create(model=MODEL, input=MESSAGES[0]["content"]).parse().output_text

    return {
        "raw": lambda: sync.chat.completions.with_raw_response.create(**kw).parse().choices[0].message.content,
        "raw stream": raw_stream,
        "streaming response": streaming_response,
        "streaming response, stream": streaming_response_stream,
        "parse": lambda: sync.chat.completions.parse(**kw).choices[0].message.content,
        "beta parse": lambda: sync.beta.chat.completions.parse(**kw).choices[0].message.content,
        "stream helper": stream_helper,
        "async raw": async_raw,
        "async streaming response": async_streaming_response,
        "async parse": async_parse,
        "responses raw": responses_raw,
        "responses stream helper": responses_stream,
        "async responses raw": async_responses_raw,
        "async responses streaming response": async_responses_streaming,
        "client-level raw responses": root_raw,
    }


OPENAI_SHAPES = list(openai_shapes("http://127.0.0.1:1/v1"))


@pytest.mark.parametrize("shape", OPENAI_SHAPES)
def test_openai(
    shape: str, instrumented: None, llm_server: FaultyLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    assert run(openai_shapes(llm_server.url)[shape]) == ANSWER
    (span,) = chat_spans(span_exporter)
    assert answer_of(span) == ANSWER
    assert (span.attributes or {})[sc.GEN_AI_RESPONSE_MODEL] == MODEL


def test_a_raw_body_read_by_the_app_ends_the_span_without_an_output(
    instrumented: None, llm_server: FaultyLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    """iter_lines() reads what we cannot see: the span still ends, and the processor will count the
    answer as not captured (never a silent good)."""
    client = openai.OpenAI(base_url=llm_server.url, api_key="t", max_retries=0)
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        assert any(ANSWER in line for line in response.iter_lines())
    (span,) = chat_spans(span_exporter)
    assert sc.GEN_AI_OUTPUT_MESSAGES not in (span.attributes or {}) and span.end_time is not None


def anthropic_shapes(url: str) -> dict[str, Callable[..., Any]]:
    base = url.removesuffix("/v1")
    sync = anthropic.Anthropic(base_url=base, api_key="t", max_retries=0)
    aio = anthropic.AsyncAnthropic(base_url=base, api_key="t", max_retries=0)
    kw: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": MESSAGES}

    def text(message: Any) -> str:
        return "".join(b.text for b in message.content if b.type == "text")

    def stream_helper() -> str:
        with sync.messages.stream(**kw) as stream:
            return "".join(stream.text_stream)

    def stream_helper_final() -> str:
        with sync.messages.stream(**kw) as stream:
            return text(stream.get_final_message())

    async def async_stream_helper() -> str:
        async with aio.messages.stream(**kw) as stream:
            return "".join([t async for t in stream.text_stream])

    async def async_raw() -> str:
        return text(await (await aio.messages.with_raw_response.create(**kw)).parse())

    return {
        "raw": lambda: text(sync.messages.with_raw_response.create(**kw).parse()),
        "beta": lambda: text(sync.beta.messages.create(**kw)),
        "beta raw": lambda: text(sync.beta.messages.with_raw_response.create(**kw).parse()),
        "stream helper": stream_helper,
        "stream helper, final message": stream_helper_final,
        "async stream helper": async_stream_helper,
        "async raw": async_raw,
    }


ANTHROPIC_SHAPES = list(anthropic_shapes("http://127.0.0.1:1/v1"))


@pytest.mark.parametrize("shape", ANTHROPIC_SHAPES)
def test_anthropic(
    shape: str, instrumented: None, llm_server: FaultyLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    assert run(anthropic_shapes(llm_server.url)[shape]) == ANSWER
    (span,) = chat_spans(span_exporter)
    assert answer_of(span) == ANSWER
    assert (span.attributes or {})[sc.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_a_stream_helper_left_early_ends_its_span_with_what_was_read(
    instrumented: None, llm_server: FaultyLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    client = anthropic.Anthropic(base_url=llm_server.url.removesuffix("/v1"), api_key="t", max_retries=0)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        first = next(iter(stream.text_stream))
    (span,) = chat_spans(span_exporter)
    assert answer_of(span) and ANSWER.startswith(answer_of(span)) and first


LANGCHAIN = ("invoke", "stream", "batch", "ainvoke", "astream", "abatch")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("method", LANGCHAIN)
def test_langchain_chat_models(
    provider: str, method: str, instrumented: None, llm_server: FaultyLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    if provider == "openai":
        lc_openai = pytest.importorskip("langchain_openai")
        model: Any = lc_openai.ChatOpenAI(model=MODEL, base_url=llm_server.url, api_key="t", max_retries=0)
    else:
        lc_anthropic = pytest.importorskip("langchain_anthropic")
        model = lc_anthropic.ChatAnthropic(
            model=MODEL, base_url=llm_server.url.removesuffix("/v1"), api_key="t", max_retries=0, max_tokens=100
        )
    prompt = MESSAGES[0]["content"]

    async def collect() -> str:
        if method == "ainvoke":
            return str((await model.ainvoke(prompt)).content)
        if method == "abatch":
            return str((await model.abatch([prompt]))[0].content)
        return "".join([str(c.content) async for c in model.astream(prompt)])

    if method == "invoke":
        text = str(model.invoke(prompt).content)
    elif method == "stream":
        text = "".join(str(c.content) for c in model.stream(prompt))
    elif method == "batch":
        text = str(model.batch([prompt])[0].content)
    else:
        text = asyncio.run(collect())
    assert text == ANSWER
    (span,) = chat_spans(span_exporter)
    assert answer_of(span) == ANSWER
