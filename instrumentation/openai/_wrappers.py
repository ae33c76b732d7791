"""The wrapt wrapper for ``Completions.create``.

Shape (see shared/reference/style.md §5): skip when suppressed; build the span in a guard; call the
library outside any guard and re-raise its errors unchanged; finish in a guard; end the span once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mre.instrumentation._guard import never_raise
from mre.instrumentation._settings import capture_content
from mre.instrumentation._stages import get_tracer
from mre.instrumentation.openai._extract import request_attributes, response_attributes
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from mre import semconv as sc


def chat_create_wrapper(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    tracer = get_tracer(tracer_provider)

    @never_raise(None)
    def start(instance: Any, kwargs: dict[str, Any]) -> Span | None:
        capture = capture_content()
        attrs = request_attributes(kwargs, getattr(instance, "_client", None), capture)
        name = f"{sc.OP_CHAT} {attrs.get(sc.GEN_AI_REQUEST_MODEL, '')}".strip()
        return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)

    @never_raise(None)
    def finish(span: Span, response: Any) -> None:
        if span.is_recording():
            span.set_attributes(response_attributes(response, capture_content()))

    @never_raise(None)
    def fail(span: Span, exc: BaseException) -> None:
        span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))

    @never_raise(None)
    def end(span: Span) -> None:
        span.end()

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or kwargs.get("stream") is True:
            return wrapped(*args, **kwargs)
        span = start(instance, kwargs)
        if span is None:
            return wrapped(*args, **kwargs)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            response = wrapped(*args, **kwargs)
        except BaseException as exc:
            fail(span, exc)
            end(span)
            raise
        finally:
            otel_context.detach(token)
        finish(span, response)
        end(span)
        return response

    return wrapper
