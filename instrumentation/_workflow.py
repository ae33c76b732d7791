"""``invoke_workflow`` spans around a framework's outermost pipeline call (a LangChain runnable
sequence, a LlamaIndex query engine).

Why: an app with no server span of its own (a script, a worker) would otherwise put the retrieval
and the generation of one answer in two traces, and the processor could not tell which documents
fed which answer. The span is the common root; it is current while the pipeline runs (also while a
stream is iterated), so the framework's retriever and model calls nest under it. Only the outermost
call of a pipeline gets one: nested sequences and sub-engines run inside it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Tracer

from mre import semconv as sc
from mre.instrumentation._coexist import mark
from mre.instrumentation._genai import GenAICall, start_call
from mre.instrumentation._guard import never_raise
from mre.instrumentation._stream import TracedAsyncStream, TracedStream

_IN_WORKFLOW: contextvars.ContextVar[bool] = contextvars.ContextVar("mre_in_workflow", default=False)

CALL = "call"  # returns the result
ASYNC_CALL = "async_call"  # a coroutine
ITERATE = "iterate"  # returns a generator, run while the app iterates it
ASYNC_ITERATE = "async_iterate"  # returns an async generator


def _nothing(_: Any) -> None:
    return None


def _no_attributes() -> dict[str, Any]:
    return {}


class _Active:
    """The workflow span current (and nested pipelines told to stay quiet) for a stretch of code."""

    def __init__(self, call: GenAICall) -> None:
        self.call = call
        self.token: contextvars.Token[bool] | None = None

    def __enter__(self) -> None:
        self.token = _IN_WORKFLOW.set(True)
        self.call.activate()

    def __exit__(self, *exc: object) -> None:
        self.call.deactivate()
        if self.token is not None:
            _IN_WORKFLOW.reset(self.token)


class _WorkflowStream(TracedStream):
    def __next__(self) -> Any:
        with _Active(self._self_state.call):
            return super().__next__()


class _AsyncWorkflowStream(TracedAsyncStream):
    async def __anext__(self) -> Any:
        with _Active(self._self_state.call):
            return await super().__anext__()


def make_workflow_wrapper(provider: str, kind: str, name_of: Callable[[Any], str | None]) -> Callable[..., Any]:
    """A patch factory ``(tracer, instruments) -> wrapper`` for one pipeline entry point."""

    def factory(tracer: Tracer, instruments: Any) -> Any:
        @never_raise(None)
        def start(instance: Any) -> GenAICall | None:
            name = name_of(instance) or type(instance).__name__
            attributes = {
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
                sc.GEN_AI_PROVIDER_NAME: provider,
                sc.GEN_AI_WORKFLOW_NAME: name,
            }
            return start_call(tracer, f"{sc.OP_INVOKE_WORKFLOW} {name}", attributes, None, SpanKind.INTERNAL)

        def skip() -> bool:
            return _IN_WORKFLOW.get() or not is_instrumentation_enabled()

        if kind == ASYNC_CALL:

            async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                call = None if skip() else start(instance)
                if call is None:
                    return await wrapped(*args, **kwargs)
                with _Active(call):
                    try:
                        result = await wrapped(*args, **kwargs)
                    except BaseException as exc:
                        call.fail(exc)
                        raise
                call.end()
                return result

            return mark(async_wrapper)

        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            call = None if skip() else start(instance)
            if call is None:
                return wrapped(*args, **kwargs)
            with _Active(call):
                try:
                    result = wrapped(*args, **kwargs)
                except BaseException as exc:
                    call.fail(exc)
                    raise
            if kind == ITERATE:
                return _WorkflowStream(result, call, _nothing, _no_attributes)
            if kind == ASYNC_ITERATE:
                return _AsyncWorkflowStream(result, call, _nothing, _no_attributes)
            call.end()
            return result

        return mark(wrapper)

    return factory
