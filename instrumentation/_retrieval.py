"""Shared pieces of the retrieval instrumentations: a call spec over ``(request, documents)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mre import semconv as sc
from mre.instrumentation._coexist import RETRIEVAL_OPERATIONS
from mre.instrumentation._content import documents_json
from mre.instrumentation._redaction import redact
from mre.instrumentation._wrapping import Attributes, CallSpec
from mre.model import Document

CONTENT_KEYS = ("page_content", "text", "content", "document", "chunk")


def retrieval_attributes(
    provider: str, data_source: str | None, query: str | None, top_k: int | None, capture: bool
) -> Attributes:
    attrs: Attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_DATA_SOURCE_ID: data_source,
        sc.GEN_AI_REQUEST_TOP_K: top_k,
    }
    if capture and query:
        attrs[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = redact(query)
    return attrs


def documents_attributes(documents: Sequence[Document], capture: bool) -> Attributes:
    return {sc.GEN_AI_RETRIEVAL_DOCUMENTS: documents_json(documents, with_content=capture)}


def span_name(attrs: Attributes) -> str:
    source = attrs.get(sc.GEN_AI_DATA_SOURCE_ID)
    return f"{sc.OP_RETRIEVAL} {source}" if source else sc.OP_RETRIEVAL


def retrieval_spec(
    request: Callable[[Any, dict[str, Any], bool], Attributes],
    documents: Callable[[Any], list[Document]],
    positional: tuple[str, ...] = (),
) -> CallSpec:
    return CallSpec(
        span_name,
        request,
        lambda result, capture: documents_attributes(documents(result), capture),
        family=RETRIEVAL_OPERATIONS,
        positional=positional,
    )


def split_payload(payload: Any) -> tuple[str | None, dict[str, Any]]:
    """(content, metadata) from a vector store payload: LangChain's ``{page_content, metadata}`` or a
    flat dict with a text field."""
    if not isinstance(payload, dict):
        return None, {}
    for key in CONTENT_KEYS:
        if isinstance(payload.get(key), str):
            nested = payload.get("metadata")
            metadata = dict(nested) if isinstance(nested, dict) else {k: v for k, v in payload.items() if k != key}
            return payload[key], metadata
    return None, dict(payload)
