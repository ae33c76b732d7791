"""OpenAI chat completions instrumentation.

Usage::

    from mre.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)

or with no code change: ``opentelemetry-instrument python app.py`` (entry point ``mre_openai`` in the
``opentelemetry_instrumentor`` group).

Each ``client.chat.completions.create(...)`` emits a CLIENT span ``chat {model}`` with the GenAI
attributes; with content capture on (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``),
``gen_ai.input.messages`` and ``gen_ai.output.messages`` as JSON.

Covered now: synchronous, non-streaming chat completions. Streaming calls pass through untraced.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mre.instrumentation.openai._wrappers import chat_create_wrapper
from mre.instrumentation.openai.package import _instruments
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

_MODULE = "openai.resources.chat.completions.completions"


class OpenAIInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer_provider = kwargs.get("tracer_provider")
        wrap_function_wrapper(_MODULE, "Completions.create", chat_create_wrapper(tracer_provider))

    def _uninstrument(self, **kwargs: Any) -> None:
        import openai.resources.chat.completions.completions as completions

        unwrap(completions.Completions, "create")


__all__ = ["OpenAIInstrumentor"]
