"""The generic wrapt wrapper shape every client instrumentation uses (sync and async alike).

Shape (shared/reference/style.md §5): skip when suppressed or when another instrumentation already
traces this call; build the span in a guard; call the library outside any guard and re-raise its
errors unchanged; finish in a guard (a stream is handed back wrapped, ending its span when consumed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Tracer

from mre.instrumentation._coexist import LLM_OPERATIONS, foreign_genai_span_active, mark
from mre.instrumentation._genai import GenAICall, start_call
from mre.instrumentation._guard import never_raise
from mre.instrumentation._metrics import Instruments
from mre.instrumentation._raw import is_raw_response, wrap_raw
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
    def start(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[GenAICall, bool] | None:
        return _start(spec, tracer, instruments, instance, args, kwargs)

    @never_raise(None)
    def stream_proxy(result: Any, call: GenAICall, capture: bool, asynchronous: bool) -> Any:
        assert spec.stream is not None
        accumulator = spec.stream(capture)
        proxy = TracedAsyncStream if asynchronous else TracedStream
        return proxy(result, call, accumulator.item, accumulator.done)

    def finish(call: GenAICall, capture: bool, result: Any, kwargs: dict[str, Any], asynchronous: bool) -> Any:
        if is_raw_response(result):  # with_raw_response / with_streaming_response: trace what parse() gives
            return wrap_raw(
                result,
                _is_stream(kwargs),
                lambda parsed: finish(call, capture, parsed, kwargs, asynchronous),
                call.end,
            )
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


def make_managed_stream_wrapper(
    spec: CallSpec,
    tracer: Tracer,
    instruments: Instruments | None,
    snapshot: Callable[[Any], Any],
) -> Any:
    """For SDK stream helpers that return a context manager and make the request on entering it
    (anthropic's ``messages.stream()``, sync and async managers alike): the span covers the ``with``
    block and ends with what ``snapshot(stream)`` says the response was when the block is left."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if not is_instrumentation_enabled() or foreign_genai_span_active(spec.family):
            return manager
        start = functools.partial(_start, spec, tracer, instruments, instance, args, kwargs)
        return _manager_proxy(manager, start, spec, snapshot)

    return mark(wrapper)


@never_raise(None)
def _start(
    spec: CallSpec, tracer: Tracer, instruments: Instruments | None, instance: Any, args: Any, kwargs: dict[str, Any]
) -> tuple[GenAICall, bool] | None:
    capture = capture_content()
    named = {**dict(zip(spec.positional, args, strict=False)), **kwargs} if args else kwargs
    attributes = spec.request(instance, named, capture)
    call = start_call(tracer, spec.span_name(attributes), attributes, instruments, spec.kind)
    return (call, capture) if call is not None else None


def _manager_proxy(
    manager: Any, start: Callable[[], tuple[GenAICall, bool] | None], spec: CallSpec, snapshot: Any
) -> Any:
    if hasattr(manager, "__aenter__"):
        return _TracedAsyncManager(manager, start, spec, snapshot)
    if hasattr(manager, "__enter__"):
        return _TracedManager(manager, start, spec, snapshot)
    return manager


class _ManagerState:
    def __init__(self, start: Callable[[], tuple[GenAICall, bool] | None], spec: CallSpec, snapshot: Any) -> None:
        self.start, self.spec, self.snapshot = start, spec, snapshot
        self.started: tuple[GenAICall, bool] | None = None
        self.stream: Any = None

    @never_raise(None)
    def finish(self, exc: BaseException | None) -> None:
        if self.started is None:
            return
        call, capture = self.started
        self.started = None
        if exc is not None:
            call.fail(exc)
            return
        final = self.snapshot(self.stream) if self.stream is not None else None
        if final is not None:
            call.set(self.spec.response(final, capture))
        call.end()


class _TracedManager(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, start: Any, spec: CallSpec, snapshot: Any) -> None:
        super().__init__(wrapped)
        self._self_state = _ManagerState(start, spec, snapshot)

    def __enter__(self) -> Any:
        state = self._self_state
        state.started = state.start()
        try:
            state.stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            state.finish(exc)
            raise
        return state.stream

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_state.finish(exc if isinstance(exc, Exception) else None)


class _TracedAsyncManager(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, start: Any, spec: CallSpec, snapshot: Any) -> None:
        super().__init__(wrapped)
        self._self_state = _ManagerState(start, spec, snapshot)

    async def __aenter__(self) -> Any:
        state = self._self_state
        state.started = state.start()
        try:
            state.stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            state.finish(exc)
            raise
        return state.stream

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_state.finish(exc if isinstance(exc, Exception) else None)
