"""mre-otel instrumentation: GenAI spans for the retrieval, generation and guardrail stages.

One call instruments every supported library that is installed and turns content capture on
(scoring needs the text; ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`` still wins)::

    import mre.instrumentation
    mre.instrumentation.instrument()

The manual API (:func:`retrieval`, :func:`generation`, :func:`guardrail`, and the decorators
:func:`retriever`, :func:`guardrail_check`) covers pipelines no library instrumentation reaches.
This package never imports the processor: apps that only emit spans do not pay for scoring.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from mre.instrumentation._redaction import set_redactor
from mre.instrumentation._settings import (
    Settings,
    capture_content,
    checking,
    configure,
    restore,
    set_default_capture,
    settings,
)
from mre.instrumentation._stages import (
    GenerationStep,
    GuardrailStep,
    RetrievalStep,
    generation,
    guardrail,
    guardrail_check,
    retrieval,
    retriever,
)
from mre.redaction import redactor

logger = logging.getLogger(__name__)

# name -> (library module that must import, instrumentor "module:Class")
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "mre.instrumentation.openai:OpenAIInstrumentor"),
    "anthropic": ("anthropic", "mre.instrumentation.anthropic:AnthropicInstrumentor"),
    "chromadb": ("chromadb", "mre.instrumentation.chromadb:ChromaInstrumentor"),
    "qdrant": ("qdrant_client", "mre.instrumentation.qdrant:QdrantInstrumentor"),
    "langchain": ("langchain_core", "mre.instrumentation.langchain:LangChainRetrieverInstrumentor"),
    "llama_index": ("llama_index.core", "mre.instrumentation.llama_index:LlamaIndexRetrieverInstrumentor"),
    "presidio": ("presidio_analyzer", "mre.instrumentation.presidio:PresidioInstrumentor"),
    "guardrails": ("guardrails", "mre.instrumentation.guardrails_ai:GuardrailsInstrumentor"),
}


def _load(path: str) -> Any:
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    capture_content: bool | None = None,
    redact: bool | Callable[[str], str] = False,
    libraries: list[str] | None = None,
) -> list[str]:
    """Instrument every supported library that is installed; returns the names instrumented.

    Content is captured (scoring needs the text) unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    says otherwise; ``capture_content=True/False`` decides in code, over the environment.
    ``redact=True`` masks PII and secrets with typed placeholders before anything is recorded;
    a callable ``str -> str`` is used as the redaction hook instead."""
    set_default_capture(True)
    if capture_content is not None:
        configure(capture_content=capture_content)
    if redact is True:
        set_redactor(redactor())
    elif callable(redact):
        set_redactor(redact)
    done = []
    for name, (library, path) in INSTRUMENTORS.items():
        if libraries is not None and name not in libraries:
            continue
        try:
            importlib.import_module(library)
        except ImportError:
            continue
        try:
            instrumentor = _load(path)()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(
                    tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
                )
            done.append(name)
        except Exception:
            logger.warning("could not instrument %s", name, exc_info=True)
    return done


def uninstrument() -> None:
    for _name, (_library, path) in INSTRUMENTORS.items():
        try:
            instrumentor = _load(path)()
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        except ImportError:
            continue


__all__ = [
    "GenerationStep",
    "GuardrailStep",
    "RetrievalStep",
    "Settings",
    "capture_content",
    "checking",
    "configure",
    "generation",
    "guardrail",
    "guardrail_check",
    "instrument",
    "restore",
    "retrieval",
    "retriever",
    "set_default_capture",
    "set_redactor",
    "settings",
    "uninstrument",
]
