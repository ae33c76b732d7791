"""Qdrant instrumentation: ``query_points`` and ``search`` (sync and async clients, local mode too)
as retrieval spans. Each point: id, score, rank, and its payload split into content (the first of
``page_content``, ``text``, ``content``, ``document``, ``chunk``) and metadata."""

from __future__ import annotations

from typing import Any

from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._retrieval import retrieval_attributes, retrieval_spec, split_payload
from mre.instrumentation._wrapping import Attributes
from mre.model import Document

_instruments = ("qdrant-client >= 1.7.0",)


def _request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    query = kwargs.get("query")
    text = query if isinstance(query, str) else getattr(query, "text", None)
    limit = kwargs.get("limit")
    return retrieval_attributes(
        "qdrant",
        kwargs.get("collection_name"),
        text if isinstance(text, str) else None,
        limit if isinstance(limit, int) else None,
        capture,
    )


def _documents(result: Any) -> list[Document]:
    points = getattr(result, "points", result)
    docs = []
    for rank, point in enumerate(points or ()):
        content, metadata = split_payload(getattr(point, "payload", None))
        score = getattr(point, "score", None)
        docs.append(
            Document(
                str(getattr(point, "id", rank)),
                content,
                float(score) if isinstance(score, int | float) else None,
                None,
                rank,
                metadata,
            )
        )
    return docs


SPEC = retrieval_spec(_request, _documents, positional=("collection_name", "query"))
SEARCH = retrieval_spec(_request, _documents, positional=("collection_name", "query_vector"))
PATCHES = (
    Patch("qdrant_client.qdrant_client", "QdrantClient", "query_points", SPEC, False),
    Patch("qdrant_client.qdrant_client", "QdrantClient", "search", SEARCH, False),
    Patch("qdrant_client.async_qdrant_client", "AsyncQdrantClient", "query_points", SPEC, True),
    Patch("qdrant_client.async_qdrant_client", "AsyncQdrantClient", "search", SEARCH, True),
)


class QdrantInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["QdrantInstrumentor"]
