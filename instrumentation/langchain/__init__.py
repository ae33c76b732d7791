"""LangChain: retrievers and the pipelines around them.

- ``BaseRetriever.invoke`` / ``ainvoke`` (every retriever) as retrieval spans named after the
  retriever class. Documents keep ``id``, ``page_content`` and ``metadata``; a score found in
  metadata (``score``, ``relevance_score``) is kept too.
- The outermost LCEL ``RunnableSequence`` call (``invoke``, ``ainvoke``, ``stream``, ``astream``,
  ``batch``, ``abatch``) as an ``invoke_workflow`` span, so that the retrieval and the model call of
  one answer share a trace even when the app has no span of its own (see ``_workflow``).

The model calls themselves are traced where they happen, in the ``openai``/``anthropic`` clients
(``ChatOpenAI`` and ``ChatAnthropic`` use their ``with_raw_response`` forms).
"""

from __future__ import annotations

from typing import Any

from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._retrieval import retrieval_attributes, retrieval_spec
from mre.instrumentation._workflow import ASYNC_CALL, ASYNC_ITERATE, CALL, ITERATE, make_workflow_wrapper
from mre.instrumentation._wrapping import Attributes
from mre.model import Document

_instruments = ("langchain-core >= 0.2.0",)


def _request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    query = kwargs.get("input")
    top_k = getattr(instance, "k", None) or (getattr(instance, "search_kwargs", None) or {}).get("k")
    return retrieval_attributes(
        "langchain",
        type(instance).__name__,
        query if isinstance(query, str) else None,
        top_k if isinstance(top_k, int) else None,
        capture,
    )


def _documents(result: Any) -> list[Document]:
    docs = []
    for rank, doc in enumerate(result or ()):
        metadata = dict(getattr(doc, "metadata", None) or {})
        score = metadata.get("score", metadata.get("relevance_score"))
        doc_id = getattr(doc, "id", None) or metadata.get("id") or metadata.get("source") or rank
        docs.append(
            Document(
                str(doc_id),
                getattr(doc, "page_content", None),
                float(score) if isinstance(score, int | float) else None,
                None,
                rank,
                metadata,
            )
        )
    return docs


def _name(runnable: Any) -> str | None:
    name = getattr(runnable, "name", None)
    return name if isinstance(name, str) and name else None


def _workflow(kind: str) -> Any:
    return make_workflow_wrapper("langchain", kind, _name)


SPEC = retrieval_spec(_request, _documents, positional=("input",))
_SEQUENCE = ("langchain_core.runnables.base", "RunnableSequence")
PATCHES = (
    Patch("langchain_core.retrievers", "BaseRetriever", "invoke", SPEC, False),
    Patch("langchain_core.retrievers", "BaseRetriever", "ainvoke", SPEC, True),
    Patch(*_SEQUENCE, "invoke", _workflow(CALL), False),
    Patch(*_SEQUENCE, "ainvoke", _workflow(ASYNC_CALL), True),
    Patch(*_SEQUENCE, "batch", _workflow(CALL), False),
    Patch(*_SEQUENCE, "abatch", _workflow(ASYNC_CALL), True),
    Patch(*_SEQUENCE, "stream", _workflow(ITERATE), False),
    Patch(*_SEQUENCE, "astream", _workflow(ASYNC_ITERATE), False),
)


class LangChainRetrieverInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["LangChainRetrieverInstrumentor"]
