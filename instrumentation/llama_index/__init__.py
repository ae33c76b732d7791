"""LlamaIndex: ``BaseRetriever.retrieve`` / ``aretrieve`` as retrieval spans (each ``NodeWithScore``
keeps node id, score, content and metadata), and the outermost ``BaseQueryEngine.query`` / ``aquery``
as an ``invoke_workflow`` span, the common root of the retrieval and the model call of one answer
(see ``_workflow``). The model call is traced in the client the LLM class uses (``openai``)."""

from __future__ import annotations

from typing import Any

from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._retrieval import retrieval_attributes, retrieval_spec
from mre.instrumentation._workflow import ASYNC_CALL, CALL, make_workflow_wrapper
from mre.instrumentation._wrapping import Attributes
from mre.model import Document

_instruments = ("llama-index-core >= 0.10.0",)


def _request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    query = kwargs.get("str_or_query_bundle")
    text = query if isinstance(query, str) else getattr(query, "query_str", None)
    top_k = getattr(instance, "similarity_top_k", None) or getattr(instance, "_similarity_top_k", None)
    return retrieval_attributes(
        "llama_index",
        type(instance).__name__,
        text if isinstance(text, str) else None,
        top_k if isinstance(top_k, int) else None,
        capture,
    )


def _documents(result: Any) -> list[Document]:
    docs = []
    for rank, hit in enumerate(result or ()):
        node = getattr(hit, "node", hit)
        get_content = getattr(node, "get_content", None)
        content = get_content() if callable(get_content) else getattr(node, "text", None)
        score = getattr(hit, "score", None)
        docs.append(
            Document(
                str(getattr(node, "node_id", rank)),
                content if isinstance(content, str) else None,
                float(score) if isinstance(score, int | float) else None,
                None,
                rank,
                dict(getattr(node, "metadata", None) or {}),
            )
        )
    return docs


SPEC = retrieval_spec(_request, _documents, positional=("str_or_query_bundle",))
_ENGINE = ("llama_index.core.base.base_query_engine", "BaseQueryEngine")
PATCHES = (
    Patch("llama_index.core.base.base_retriever", "BaseRetriever", "retrieve", SPEC, False),
    Patch("llama_index.core.base.base_retriever", "BaseRetriever", "aretrieve", SPEC, True),
    Patch(*_ENGINE, "query", make_workflow_wrapper("llama_index", CALL, lambda engine: None), False),
    Patch(*_ENGINE, "aquery", make_workflow_wrapper("llama_index", ASYNC_CALL, lambda engine: None), True),
)


class LlamaIndexRetrieverInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["LlamaIndexRetrieverInstrumentor"]
