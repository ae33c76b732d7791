"""One lifecycle for every GenAI client call (chat, embeddings, messages, moderation as guardrail):
start the span, add what the response says, record the semconv metrics, end exactly once. Every
method is guarded: a bug here is logged and never reaches the application."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from mre import semconv as sc
from mre.instrumentation._guard import never_raise
from mre.instrumentation._metrics import Instruments

# The required and conditionally required metric attributes; server.* (recommended) stay on spans:
# every extra attribute is hashed on every record, on the app's thread.
_METRIC_KEYS = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL)


class GenAICall:
    """Created by :func:`start_call`; ``None`` is returned instead when starting failed."""

    def __init__(self, span: Span, instruments: Instruments | None, attributes: Mapping[str, Any]) -> None:
        self.span = span
        self._instruments = instruments
        self._metric_attributes = {k: attributes[k] for k in _METRIC_KEYS if k in attributes}
        self._started = time.perf_counter()
        self._token: object | None = None
        self._ended = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def activate(self) -> None:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def deactivate(self) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    @never_raise(None)
    def set(self, attributes: Mapping[str, Any]) -> None:
        clean = {k: v for k, v in attributes.items() if v is not None}
        if self.span.is_recording():
            self.span.set_attributes(clean)
        for key in (sc.GEN_AI_RESPONSE_MODEL,):
            if key in clean:
                self._metric_attributes[key] = clean[key]
        if isinstance(clean.get(sc.GEN_AI_USAGE_INPUT_TOKENS), int):
            self.input_tokens = clean[sc.GEN_AI_USAGE_INPUT_TOKENS]
        if isinstance(clean.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS), int):
            self.output_tokens = clean[sc.GEN_AI_USAGE_OUTPUT_TOKENS]

    @never_raise(None)
    def fail(self, exc: BaseException) -> None:
        self._metric_attributes[sc.ERROR_TYPE] = type(exc).__qualname__
        self.span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
        self.span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        self.end()

    @never_raise(None)
    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        instruments = self._instruments
        if instruments is not None:
            attrs = self._metric_attributes
            instruments.record(instruments.duration, time.perf_counter() - self._started, attrs)
            for kind, count in (("input", self.input_tokens), ("output", self.output_tokens)):
                if count is not None:
                    instruments.record(instruments.tokens, count, {**attrs, "gen_ai.token.type": kind})
        self.span.end()


@never_raise(None)
def start_call(
    tracer: Tracer,
    name: str,
    attributes: Mapping[str, Any],
    instruments: Instruments | None,
    kind: SpanKind = SpanKind.CLIENT,
) -> GenAICall | None:
    clean = {k: v for k, v in attributes.items() if v is not None}
    span = tracer.start_span(name, kind=kind, attributes=clean)
    return GenAICall(span, instruments, clean)
