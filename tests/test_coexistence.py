"""With another instrumentation of the same library active, the user gets one span per call, not two:
mre yields to it (its spans are read by the processor anyway), whichever instrumented first."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mre.examples.llm_server import FaultyLLMServer
from mre.instrumentation.openai import OpenAIInstrumentor

OTHERS = {
    "official genai-openai": ("opentelemetry.instrumentation.genai.openai", "OpenAIInstrumentor"),
    "OpenLLMetry": ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    "OpenInference": ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
}


def other(name: str) -> Callable[[], object]:
    module, cls = OTHERS[name]
    try:
        return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
    except ImportError:
        pytest.skip(f"{name} is not installed (the test extra installs it)")


@pytest.fixture(autouse=True)
def restore_openai() -> Iterator[None]:
    """Some instrumentations leave their wrapper behind on uninstrument (OpenLLMetry 0.62 on openai 3:
    it unwraps an old module path): put the library back as it was for the tests that follow."""
    from mre.instrumentation.openai import PATCHES

    owners = [importlib.import_module(p.module).__dict__[p.cls] for p in PATCHES]
    owners += [openai.OpenAI, openai.AsyncOpenAI]
    saved = {
        (owner, name): owner.__dict__[name]
        for owner in owners
        for name in ({p.method for p in PATCHES} | {"request"})
        if name in owner.__dict__
    }
    yield
    for (owner, name), value in saved.items():
        setattr(owner, name, value)


@pytest.mark.parametrize("name", sorted(OTHERS))
@pytest.mark.parametrize("ours_first", [True, False], ids=["mre first", "mre second"])
def test_one_span_per_call(
    name: str,
    ours_first: bool,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    llm_server: FaultyLLMServer,
    capture_on: None,
) -> None:
    theirs = other(name)()
    ours = OpenAIInstrumentor()
    order = [ours, theirs] if ours_first else [theirs, ours]
    for instrumentor in order:
        instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)  # type: ignore[attr-defined]
    try:
        client = openai.OpenAI(base_url=llm_server.url, api_key="test", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Question: refunds?"}])
    finally:
        for instrumentor in reversed(order):
            instrumentor.uninstrument()  # type: ignore[attr-defined]
    llm_spans = [s for s in span_exporter.get_finished_spans() if not s.name.startswith(("POST", "HTTP"))]
    assert len(llm_spans) == 1, [(s.name, s.instrumentation_scope.name) for s in llm_spans]


def test_a_librarys_own_wrapt_decorators_are_not_another_instrumentation() -> None:
    from llama_index.core.base.base_retriever import BaseRetriever

    from mre.instrumentation._coexist import wrapped_by_other

    assert hasattr(BaseRetriever.__dict__["retrieve"], "_self_wrapper")  # LlamaIndex's dispatcher span
    assert not wrapped_by_other(BaseRetriever, "retrieve")
