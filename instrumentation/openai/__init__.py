"""OpenAI instrumentation: chat completions (tool calls, streaming), the Responses API, embeddings,
and moderations as a guardrail; sync and async.

Usage::

    from mre.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider, meter_provider=meters)

or with no code change: ``opentelemetry-instrument python app.py`` (entry point ``mre_openai`` in the
``opentelemetry_instrumentor`` group).

Spans: ``chat {model}`` (chat completions and the Responses API), ``embeddings {model}``,
``run_guardrail openai.moderation`` (target ``input`` unless the call runs inside
``mre.instrumentation.checking("output")``). A streamed span ends when the stream is consumed,
closed or left through ``with``, with the full text and usage. Metrics:
``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``. Content follows
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; errors set ``error.type`` and re-raise unchanged.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from mre.instrumentation._coexist import wrapped_by_other
from mre.instrumentation._metrics import Instruments
from mre.instrumentation._stages import get_tracer
from mre.instrumentation._wrapping import CallSpec, make_wrapper
from mre.instrumentation.openai import _extract as x
from mre.instrumentation.openai.package import _instruments
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import SpanKind
from wrapt import wrap_function_wrapper

logger = logging.getLogger(__name__)

CHAT = CallSpec(x.span_name, x.chat_request, x.chat_response, x.ChatStream)
RESPONSES = CallSpec(x.span_name, x.responses_request, x.responses_response, x.ResponsesStream)
EMBEDDINGS = CallSpec(x.span_name, x.embeddings_request, x.embeddings_response)
MODERATION = CallSpec(x.moderation_span_name, x.moderation_request, x.moderation_response, kind=SpanKind.INTERNAL)

# (module, class, method, spec, is_async)
PATCHES: tuple[tuple[str, str, str, CallSpec, bool], ...] = (
    ("openai.resources.chat.completions.completions", "Completions", "create", CHAT, False),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "create", CHAT, True),
    ("openai.resources.responses.responses", "Responses", "create", RESPONSES, False),
    ("openai.resources.responses.responses", "AsyncResponses", "create", RESPONSES, True),
    ("openai.resources.embeddings", "Embeddings", "create", EMBEDDINGS, False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", EMBEDDINGS, True),
    ("openai.resources.moderations", "Moderations", "create", MODERATION, False),
    ("openai.resources.moderations", "AsyncModerations", "create", MODERATION, True),
)


def _owner(module: str, cls: str) -> Any:
    try:
        return getattr(importlib.import_module(module), cls, None)
    except ImportError:
        return None  # an older client without this API


class OpenAIInstrumentor(BaseInstrumentor):
    def __init__(self) -> None:
        self._patched: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = get_tracer(kwargs.get("tracer_provider"))
        instruments = Instruments(kwargs.get("meter_provider"))
        self._patched = []
        for module, cls, method, spec, is_async in PATCHES:
            owner = _owner(module, cls)
            if owner is None or not hasattr(owner, method):
                continue
            if wrapped_by_other(owner, method):
                logger.info("%s.%s is traced by another instrumentation: mre yields to it", cls, method)
                continue
            wrap_function_wrapper(owner, method, make_wrapper(spec, tracer, instruments, is_async))
            self._patched.append((owner, method))

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method in self._patched:
            unwrap(owner, method)
        self._patched = []


__all__ = ["OpenAIInstrumentor"]
