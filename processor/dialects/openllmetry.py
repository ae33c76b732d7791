"""OpenLLMetry (Traceloop): indexed ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` (or, since 0.55,
``gen_ai.input.messages``), ``traceloop.*`` workflow keys, Chroma results as ``db.query.result`` span
events (distances, not scores) and LangChain retrievers as ``vector_db_retrieve`` spans."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mre import semconv as sc
from mre.model import Document, Message
from mre.processor.dialects import otel
from mre.processor.dialects._common import float_or_none, json_mapping, str_or_none
from mre.processor.dialects._flat import indexed
from mre.processor.dialects._stage import Stage
from mre.processor.spans import SpanRecord

DIALECT = "openllmetry"
RESULT_EVENTS = frozenset({"db.query.result", "db.search.result"})
# Keys only OpenLLMetry writes (its migrated openai instrumentation otherwise looks like OTel).
MARK_KEYS = frozenset({"llm.request.type", "gen_ai.is_streaming", "gen_ai.openai.api_base", "llm.is_streaming"})
MARK_PREFIXES = ("traceloop.", "gen_ai.prompt.", "gen_ai.completion.")
_VECTOR_DBS = frozenset({"chroma", "qdrant", "pinecone", "milvus", "weaviate", "lancedb", "marqo"})


def detect(span: SpanRecord) -> bool:
    attrs = span.attributes
    if any(k in MARK_KEYS or k.startswith(MARK_PREFIXES) for k in attrs):
        return True
    return detect_without_keys(span)


def detect_without_keys(span: SpanRecord) -> bool:
    """The marks that are not key names: a vector-DB system value, or result events."""
    db_system = span.attributes.get("db.system")
    if isinstance(db_system, str) and db_system.lower() in _VECTOR_DBS:
        return True
    return bool(span.events) and any(e.name in RESULT_EVENTS for e in span.events)  # most spans have none


def _indexed_messages(attrs: Mapping[str, Any], prefix: str) -> list[Message] | None:
    items = indexed(attrs, prefix)
    if not items:
        return None
    return [
        Message(str(i.get("role") or "user"), i["content"] if isinstance(i.get("content"), str) else "") for i in items
    ]


def read_openllmetry(span: SpanRecord) -> list[Stage]:
    attrs = span.attributes
    request_type = attrs.get("llm.request.type")
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if request_type in ("chat", "completion") or operation in sc.GENERATION_OPERATIONS:
        return [
            otel.generation(
                span,
                attrs,
                DIALECT,
                inputs=_indexed_messages(attrs, "gen_ai.prompt"),
                outputs=_indexed_messages(attrs, "gen_ai.completion"),
                tool_calls=any(k.startswith("gen_ai.completion.") and ".tool_calls." in k for k in attrs),
            )
        ]
    results = [e for e in span.events if e.name in RESULT_EVENTS]
    if results or str(attrs.get("db.system", "")).lower() in _VECTOR_DBS:
        if str(attrs.get("db.operation", "query")).lower() not in ("query", "search", "query_points", "get"):
            return []
        docs = [_result_document(e.attributes, i) for i, e in enumerate(results)]
        top_k = attrs.get("db.chroma.query.n_results", attrs.get("db.vector.query.top_k"))
        merged = {**attrs, sc.GEN_AI_REQUEST_TOP_K: top_k} if top_k is not None else attrs
        # Chroma's query text is not recorded; with no result events the documents were not captured.
        return [otel.retrieval(span, merged, DIALECT, documents=docs if results else None)]
    if operation == "vector_db_retrieve" or (
        attrs.get("traceloop.span.kind") == "task" and "retriev" in span.name.lower()
    ):
        return [_langchain_retrieval(span, attrs)]
    return []


def _result_document(event: Mapping[str, Any], rank: int) -> Document:
    prefix = "db.query.result" if "db.query.result.id" in event else "db.search.result"
    return Document(
        id=str(event.get(f"{prefix}.id", rank)),
        content=str_or_none(event.get(f"{prefix}.document", event.get(f"{prefix}.entity"))),
        score=float_or_none(event.get(f"{prefix}.score")),
        distance=float_or_none(event.get(f"{prefix}.distance")),
        rank=rank,
        metadata=json_mapping(event.get(f"{prefix}.metadata"), f"{prefix}.metadata"),
    )


def _langchain_retrieval(span: SpanRecord, attrs: Mapping[str, Any]) -> Stage:
    query = None
    raw_in = attrs.get("traceloop.entity.input")
    if isinstance(raw_in, str):
        try:
            decoded = json.loads(raw_in)
            if isinstance(decoded, Mapping):
                query = str_or_none(decoded.get("query") or (decoded.get("kwargs") or {}).get("query"))
        except ValueError:
            pass
    documents = None
    raw_out = attrs.get("traceloop.entity.output")
    if isinstance(raw_out, str):
        try:
            decoded_out = json.loads(raw_out)
        except ValueError:
            decoded_out = None
        if isinstance(decoded_out, Mapping):  # {"outputs": [...]} in some versions
            decoded_out = decoded_out.get("outputs", decoded_out.get("documents"))
        if isinstance(decoded_out, list):
            documents = []
            for i, item in enumerate(decoded_out):
                if not isinstance(item, Mapping):
                    continue
                nested = item.get("kwargs")
                kwargs: Mapping[str, Any] = nested if isinstance(nested, Mapping) else item
                raw_meta = kwargs.get("metadata")
                meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
                doc_id = kwargs.get("id") or meta.get("id") or meta.get("doc_id")
                documents.append(
                    Document(
                        # No id of its own: its source and rank (chunks of one file share the source).
                        id=str(doc_id) if doc_id else f"{meta['source']}#{i}" if meta.get("source") else str(i),
                        content=str_or_none(kwargs.get("page_content")),
                        rank=i,
                        metadata=meta,
                    )
                )
    return otel.retrieval(span, attrs, DIALECT, documents=documents, query=query)
