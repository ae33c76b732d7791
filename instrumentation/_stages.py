"""The manual stage API: context managers and decorators for pipelines no library instrumentation covers.

    with retrieval("policies", query=question, top_k=5) as step:
        docs = my_index.search(question)
        step.record_documents(docs)

    with generation("my-model", provider="vllm", messages=msgs) as step:
        text = my_llm(msgs)
        step.record_output(text)

    with guardrail("pii", target="output") as step:
        step.record_verdict("deny", categories=["pii.email"])

Each emits one span in the GenAI conventions (DESIGN.md). Errors of the wrapped block propagate
unchanged (with ``error.type`` on the span); errors in our own code never reach the caller.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

import mre
from mre import semconv as sc
from mre.instrumentation._content import (
    as_document,
    documents_json,
    input_messages_json,
    output_messages_json,
    text_part,
)
from mre.instrumentation._guard import never_raise
from mre.instrumentation._redaction import redact
from mre.instrumentation._settings import capture_content

logger = logging.getLogger("mre.instrumentation")
P = ParamSpec("P")
R = TypeVar("R")

TRACER_NAME = "mre.instrumentation"


def get_tracer(tracer_provider: TracerProvider | None = None) -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME, mre.__version__, tracer_provider=tracer_provider)


class _StageSpan:
    """Shared lifecycle: start on enter, set attributes gathered by the record_* calls, end once."""

    _kind = SpanKind.CLIENT

    def __init__(self, name: str, attributes: Mapping[str, Any], tracer_provider: TracerProvider | None) -> None:
        self._name = name
        self._start_attributes = {k: v for k, v in attributes.items() if v is not None}
        self._tracer_provider = tracer_provider
        self._span: Span | None = None
        self._token: object | None = None

    @property
    def span(self) -> Span | None:
        return self._span

    @never_raise(None)
    def _start(self) -> None:
        tracer = get_tracer(self._tracer_provider)
        self._span = tracer.start_span(self._name, kind=self._kind, attributes=self._start_attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish(exc)

    @never_raise(None)
    def _finish(self, exc: BaseException | None) -> None:
        span, self._span = self._span, None
        if span is None:
            return
        try:
            if exc is not None:
                span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        finally:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
                self._token = None
            span.end()

    def _set(self, key: str, value: Any) -> None:
        if self._span is not None and value is not None and self._span.is_recording():
            self._span.set_attribute(key, value)


class RetrievalStep(_StageSpan):
    @never_raise(None)
    def record_documents(self, documents: Iterable[Any]) -> None:
        """Documents as :class:`mre.model.Document`, mappings (id, content, score, metadata) or strings."""
        docs = [as_document(item, rank) for rank, item in enumerate(documents)]
        self._set(sc.GEN_AI_RETRIEVAL_DOCUMENTS, documents_json(docs, with_content=capture_content()))


class GenerationStep(_StageSpan):
    @never_raise(None)
    def record_output(
        self,
        text: str | None,
        *,
        finish_reason: str = "stop",
        response_model: str | None = None,
        response_id: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        self._set(sc.GEN_AI_RESPONSE_MODEL, response_model)
        self._set(sc.GEN_AI_RESPONSE_ID, response_id)
        self._set(sc.GEN_AI_RESPONSE_FINISH_REASONS, [finish_reason])
        self._set(sc.GEN_AI_USAGE_INPUT_TOKENS, input_tokens)
        self._set(sc.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens)
        if capture_content():
            self._set(sc.GEN_AI_OUTPUT_MESSAGES, output_messages_json([(text, finish_reason)]))


class GuardrailStep(_StageSpan):
    _kind = SpanKind.INTERNAL

    @never_raise(None)
    def record_verdict(
        self,
        verdict: str,
        *,
        categories: Sequence[str] = (),
        score: float | None = None,
        reason: str | None = None,
    ) -> None:
        """``verdict``: allow, deny, modify, warn or escalate (draft `run_guardrail` semconv)."""
        if verdict not in sc.GUARDRAIL_VERDICTS:
            logger.warning("guardrail verdict %r is not one of %s", verdict, sorted(sc.GUARDRAIL_VERDICTS))
        self._set(sc.GEN_AI_GUARDRAIL_VERDICT_TYPE, verdict)
        if categories:
            self._set(sc.GEN_AI_GUARDRAIL_RISK_CATEGORY, list(categories))
        self._set(sc.GEN_AI_GUARDRAIL_RISK_SCORE, score)
        if reason is not None and capture_content():
            self._set(sc.GEN_AI_GUARDRAIL_VERDICT_REASON, redact(reason))


def retrieval(
    data_source: str,
    *,
    query: str | None = None,
    top_k: int | None = None,
    provider: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> RetrievalStep:
    attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL,
        sc.GEN_AI_DATA_SOURCE_ID: data_source,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_TOP_K: top_k,
    }
    if query is not None and capture_content():
        attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = redact(query)
    return RetrievalStep(f"{sc.OP_RETRIEVAL} {data_source}", attributes, tracer_provider)


def generation(
    model: str,
    *,
    provider: str | None = None,
    messages: Iterable[Mapping[str, Any]] | None = None,
    system: str | None = None,
    operation: str = sc.OP_CHAT,
    tracer_provider: TracerProvider | None = None,
) -> GenerationStep:
    attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_PROVIDER_NAME: provider,
    }
    if capture_content():
        if messages is not None:
            attributes[sc.GEN_AI_INPUT_MESSAGES] = input_messages_json(messages)
        if system is not None:
            attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = json.dumps([text_part(system)], ensure_ascii=False)
    return GenerationStep(f"{operation} {model}", attributes, tracer_provider)


def guardrail(
    name: str,
    *,
    target: str = "output",
    provider: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> GuardrailStep:
    if target not in sc.GUARDRAIL_TARGETS:
        raise ValueError(f"guardrail target must be 'input' or 'output', got {target!r}")
    attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL,
        sc.GEN_AI_GUARDRAIL_NAME: name,
        sc.GEN_AI_GUARDRAIL_TARGET_TYPE: target,
        sc.GEN_AI_PROVIDER_NAME: provider,
    }
    return GuardrailStep(f"{sc.OP_GUARDRAIL} {name}", attributes, tracer_provider)


def retriever(
    data_source: str,
    *,
    top_k: int | None = None,
    provider: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Callable[[Callable[P, Iterable[Any]]], Callable[P, list[Any]]]:
    """Decorate ``fn(query, ...) -> documents``: the first argument (or ``query=``) is the query.
    The documents are returned as the function gave them (an iterator is materialized to a list)."""

    def decorate(fn: Callable[P, Iterable[Any]]) -> Callable[P, list[Any]]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> list[Any]:
            query = kwargs.get("query", args[0] if args else None)
            with retrieval(
                data_source,
                query=query if isinstance(query, str) else None,
                top_k=top_k,
                provider=provider,
                tracer_provider=tracer_provider,
            ) as step:
                result = list(fn(*args, **kwargs))
                step.record_documents(result)
            return result

        return wrapper

    return decorate


def guardrail_check(
    name: str, *, target: str = "output", tracer_provider: TracerProvider | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a check returning a verdict string (allow/deny/...) or a bool (True = allow)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with guardrail(name, target=target, tracer_provider=tracer_provider) as step:
                result = fn(*args, **kwargs)
                if isinstance(result, bool):
                    step.record_verdict("allow" if result else "deny")
                elif isinstance(result, str):
                    step.record_verdict(result)
            return result

        return wrapper

    return decorate
