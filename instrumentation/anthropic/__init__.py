"""Anthropic Messages instrumentation: ``messages.create`` (and ``beta.messages.create``) sync, async,
streaming (``stream=True``), raw (``with_raw_response``), and the ``messages.stream()`` helper.

Spans ``chat {model}`` in the GenAI conventions with ``gen_ai.provider.name=anthropic``; cached
input tokens are counted into ``gen_ai.usage.input_tokens`` (semconv) and reported apart as well.
The ``messages.stream()`` helper makes its request without ``create``: its span covers the ``with``
block and ends with the message the helper accumulated.
"""

from __future__ import annotations

from typing import Any

from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._wrapping import CallSpec, make_managed_stream_wrapper
from mre.instrumentation.anthropic import _extract as x
from mre.instrumentation.anthropic.package import _instruments

MESSAGES = CallSpec(x.span_name, x.request, x.response, x.MessageStream)


def _stream_helper(tracer: Any, instruments: Any) -> Any:
    return make_managed_stream_wrapper(MESSAGES, tracer, instruments, x.stream_snapshot)


_MESSAGES = "anthropic.resources.messages.messages"
_BETA = "anthropic.resources.beta.messages.messages"
PATCHES = (
    Patch(_MESSAGES, "Messages", "create", MESSAGES, False),
    Patch(_MESSAGES, "AsyncMessages", "create", MESSAGES, True),
    # stream() returns a manager (sync or async) whatever the client: the wrapper itself is sync.
    Patch(_MESSAGES, "Messages", "stream", _stream_helper, False),
    Patch(_MESSAGES, "AsyncMessages", "stream", _stream_helper, False),
    Patch(_BETA, "Messages", "create", MESSAGES, False),
    Patch(_BETA, "AsyncMessages", "create", MESSAGES, True),
)


class AnthropicInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["AnthropicInstrumentor"]
