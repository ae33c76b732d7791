"""OpenAI instrumentation: chat completions (tool calls, streaming, ``parse``), the Responses API
(``create``, ``parse``, ``stream()``), embeddings, and moderations as a guardrail; sync and async, and
every call shape: plain, ``with_raw_response`` and ``with_streaming_response`` (see ``_raw``).

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

from opentelemetry.trace import SpanKind

from mre.instrumentation._coexist import GUARDRAIL_OPERATIONS, wrapped_by_other
from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._wrapping import CallSpec
from mre.instrumentation.openai import _extract as x
from mre.instrumentation.openai.package import _instruments


def _openinference_active() -> bool:
    """OpenInference traces every OpenAI call by wrapping the client's ``request`` method."""
    import openai

    return wrapped_by_other(openai.OpenAI, "request") or wrapped_by_other(openai.AsyncOpenAI, "request")


CHAT = CallSpec(x.span_name, x.chat_request, x.chat_response, x.ChatStream, yield_to=_openinference_active)
RESPONSES = CallSpec(
    x.span_name, x.responses_request, x.responses_response, x.ResponsesStream, yield_to=_openinference_active
)
EMBEDDINGS = CallSpec(x.span_name, x.embeddings_request, x.embeddings_response, yield_to=_openinference_active)
MODERATION = CallSpec(
    x.moderation_span_name,
    x.moderation_request,
    x.moderation_response,
    kind=SpanKind.INTERNAL,
    family=GUARDRAIL_OPERATIONS,
)

PATCHES = (
    Patch("openai.resources.chat.completions.completions", "Completions", "create", CHAT, False),
    Patch("openai.resources.chat.completions.completions", "AsyncCompletions", "create", CHAT, True),
    # parse(): structured outputs, a request of its own (not through create); raw and streaming
    # responses (with_raw_response, with_streaming_response) come through these same methods.
    Patch("openai.resources.chat.completions.completions", "Completions", "parse", CHAT, False),
    Patch("openai.resources.chat.completions.completions", "AsyncCompletions", "parse", CHAT, True),
    Patch("openai.resources.responses.responses", "Responses", "create", RESPONSES, False),
    Patch("openai.resources.responses.responses", "AsyncResponses", "create", RESPONSES, True),
    Patch("openai.resources.responses.responses", "Responses", "parse", RESPONSES, False),
    Patch("openai.resources.responses.responses", "AsyncResponses", "parse", RESPONSES, True),
    Patch("openai.resources.embeddings", "Embeddings", "create", EMBEDDINGS, False),
    Patch("openai.resources.embeddings", "AsyncEmbeddings", "create", EMBEDDINGS, True),
    Patch("openai.resources.moderations", "Moderations", "create", MODERATION, False),
    Patch("openai.resources.moderations", "AsyncModerations", "create", MODERATION, True),
)


class OpenAIInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["OpenAIInstrumentor"]
