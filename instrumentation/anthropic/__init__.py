"""Anthropic Messages instrumentation: ``messages.create`` sync, async and streaming (``stream=True``).

Spans ``chat {model}`` in the GenAI conventions with ``gen_ai.provider.name=anthropic``; cached
input tokens are counted into ``gen_ai.usage.input_tokens`` (semconv) and reported apart as well.
The SDK's ``messages.stream()`` helper does not pass through ``create`` and is not traced yet.
"""

from __future__ import annotations

from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._wrapping import CallSpec
from mre.instrumentation.anthropic import _extract as x
from mre.instrumentation.anthropic.package import _instruments

MESSAGES = CallSpec(x.span_name, x.request, x.response, x.MessageStream)
PATCHES = (
    Patch("anthropic.resources.messages.messages", "Messages", "create", MESSAGES, False),
    Patch("anthropic.resources.messages.messages", "AsyncMessages", "create", MESSAGES, True),
)


class AnthropicInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["AnthropicInstrumentor"]
