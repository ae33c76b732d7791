"""The generic wrapt wrapper shape every client instrumentation uses (sync and async alike).

Shape (shared/reference/style.md §5): skip when suppressed or when another instrumentation already
traces this call; build the span in a guard; call the library outside any guard and re-raise its
errors unchanged; finish in a guard (a stream is handed back wrapped, ending its span when consumed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Tracer

from mre.instrumentation._coexist import LLM_OPERATIONS, foreign_genai_span_active, mark
from mre.instrumentation._genai import GenAICall, start_call
from mre.instrumentation._guard import never_raise
from mre.instrumentation._metrics import Instruments
from mre.instrumentation._settings import capture_content
from mre.instrumentation._stream import TracedAsyncStream, TracedStream

Attributes = dict[str, Any]


class Accumulator:
    """Collects a stream's items; ``done`` returns the attributes of the whole response."""

    def item(self, item: Any) -> None:
        raise NotImplementedError

    def done(self) -> Attributes:
        raise NotImplementedError


@dataclass
class CallSpec:
    span_name: Callable[[Attributes], str]
    request: Callable[[Any, dict[str, Any], bool], Attributes]  # (instance, kwargs, capture) -> attributes
    response: Callable[[Any, bool], Attributes]  # (response, capture) -> attributes
    stream: Callable[[bool], Accumulator] | None = None  # (capture) -> accumulator, for stream=True
    kind: SpanKind = SpanKind.CLIENT
    family: frozenset[str] = LLM_OPERATIONS  # what another instrumentation's span for this call is called
    # Names for positional arguments (the first one of ``retriever.invoke(query)``), so that request
    # readers see every argument by name.
    positional: tuple[str, ...] = ()
    # Another instrumentation that traces this call from a different method (OpenInference wraps the
    # client's low-level ``request``): when this says so, mre passes the call through.
    yield_to: Callable[[], bool] | None = None


def _is_stream(kwargs: dict[str, Any]) -> bool:
    return kwargs.get("stream") is True


def make_wrapper(spec: CallSpec, tracer: Tracer, instruments: Instruments | None, is_async: bool) -> Any:
    @never_raise(None)
    def start(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[GenAICall, bool] | None:
        capture = capture_content()
        named = {**dict(zip(spec.positional, args, strict=False)), **kwargs} if args else kwargs
        attributes = spec.request(instance, named, capture)
        call = start_call(tracer, spec.span_name(attributes), attributes, instruments, spec.kind)
        return (call, capture) if call is not None else None

    @never_raise(None)
    def stream_proxy(result: Any, call: GenAICall, capture: bool, asynchronous: bool) -> Any:
        assert spec.stream is not None
        accumulator = spec.stream(capture)
        proxy = TracedAsyncStream if asynchronous else TracedStream
        return proxy(result, call, accumulator.item, accumulator.done)

    def finish(call: GenAICall, capture: bool, result: Any, kwargs: dict[str, Any], asynchronous: bool) -> Any:
        if _is_stream(kwargs) and spec.stream is not None:
            proxied = stream_proxy(result, call, capture, asynchronous)
            if proxied is not None:
                return proxied
            call.end()
            return result
        call.set(_guarded_response(result, capture))
        call.end()
        return result

    @never_raise({})
    def _guarded_response(result: Any, capture: bool) -> Attributes:
        return spec.response(result, capture)

    def skip() -> bool:
        return (
            not is_instrumentation_enabled()
            or foreign_genai_span_active(spec.family)
            or (spec.yield_to is not None and spec.yield_to())
        )

    if is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if skip():
                return await wrapped(*args, **kwargs)
            started = start(instance, args, kwargs)
            if started is None:
                return await wrapped(*args, **kwargs)
            call, capture = started
            call.activate()
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                call.deactivate()
            return finish(call, capture, result, kwargs, True)

        return mark(async_wrapper)

    def sync_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if skip():
            return wrapped(*args, **kwargs)
        started = start(instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        call, capture = started
        call.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            call.deactivate()
        return finish(call, capture, result, kwargs, False)

    return mark(sync_wrapper)
