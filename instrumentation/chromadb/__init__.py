"""Chroma instrumentation: ``Collection.query`` and ``Collection.get`` as retrieval spans.

Each document keeps its id, rank, content, metadata and, for ``query``, Chroma's *distance* (recorded
as ``distance``, never turned into a score). The query text is recorded when the app queried by text
(``query_texts``); with ``query_embeddings`` there is none.
"""

from __future__ import annotations

from typing import Any

from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._retrieval import retrieval_attributes, retrieval_spec
from mre.instrumentation._wrapping import Attributes
from mre.model import Document

_instruments = ("chromadb >= 0.5.0",)


def _first(rows: Any) -> list[Any]:
    """Query results are lists per query text/embedding; mre records the first query's."""
    if isinstance(rows, list) and rows and isinstance(rows[0], list | tuple):
        return list(rows[0])
    return list(rows) if isinstance(rows, list | tuple) else []


def _request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    texts = kwargs.get("query_texts")
    query = texts if isinstance(texts, str) else (texts[0] if isinstance(texts, list) and texts else None)
    top_k = kwargs.get("n_results", kwargs.get("limit"))
    return retrieval_attributes(
        "chroma", getattr(instance, "name", None), query, top_k if isinstance(top_k, int) else None, capture
    )


def _documents(result: Any) -> list[Document]:
    def column(name: str) -> list[Any]:
        value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
        return _first(value) if value is not None else []

    ids, texts, metadatas, distances = column("ids"), column("documents"), column("metadatas"), column("distances")
    docs = []
    for rank, doc_id in enumerate(ids):
        metadata = metadatas[rank] if rank < len(metadatas) and isinstance(metadatas[rank], dict) else {}
        text = texts[rank] if rank < len(texts) else None
        distance = distances[rank] if rank < len(distances) else None
        docs.append(
            Document(
                str(doc_id),
                text if isinstance(text, str) else None,
                None,
                float(distance) if isinstance(distance, int | float) else None,
                rank,
                metadata,
            )
        )
    return docs


SPEC = retrieval_spec(_request, _documents)
PATCHES = (
    Patch("chromadb.api.models.Collection", "Collection", "query", SPEC, False),
    Patch("chromadb.api.models.Collection", "Collection", "get", SPEC, False),
    Patch("chromadb.api.models.AsyncCollection", "AsyncCollection", "query", SPEC, True),
    Patch("chromadb.api.models.AsyncCollection", "AsyncCollection", "get", SPEC, True),
)


class ChromaInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["ChromaInstrumentor"]
