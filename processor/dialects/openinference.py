"""OpenInference (Arize Phoenix): ``openinference.span.kind`` with flattened ``llm.*`` and
``retrieval.documents.N.document.*`` attributes; no ``gen_ai.*`` keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mre.model import Document, GuardrailCheck, Message
from mre.processor.dialects import otel
from mre.processor.dialects._common import float_or_none, int_or_none, json_mapping, lenient, str_or_none
from mre.processor.dialects._flat import indexed
from mre.processor.dialects._json import answer_text, parse_json, system_text
from mre.processor.dialects._stage import GenerationStage, GuardrailStage, RetrievalStage, Stage
from mre.processor.spans import SpanRecord, hex_span_id

DIALECT = "openinference"
KIND = "openinference.span.kind"


def detect(span: SpanRecord) -> bool:
    return KIND in span.attributes


def _messages(attrs: Mapping[str, Any], prefix: str) -> list[Message] | None:
    items = indexed(attrs, prefix)
    if not items:
        return None
    out = []
    for item in items:
        content = item.get("message.content")
        if not isinstance(content, str):
            parts = indexed(item, "message.contents")
            texts = [str(p["message_content.text"]) for p in parts if isinstance(p.get("message_content.text"), str)]
            content = "\n".join(texts)
        out.append(Message(str(item.get("message.role") or "user"), content or ""))
    return out


def read_openinference(span: SpanRecord) -> list[Stage]:
    attrs = span.attributes
    kind = str(attrs.get(KIND, "")).upper()
    if kind == "LLM":
        moderation = _moderation(span, attrs)
        return [moderation] if moderation is not None else [_generation(span, attrs)]
    if kind in ("RETRIEVER", "RERANKER"):
        prefix = "retrieval.documents" if kind == "RETRIEVER" else "reranker.output_documents"
        docs = [
            Document(
                id=str(d.get("document.id", i)),
                content=str_or_none(d.get("document.content")),
                score=float_or_none(d.get("document.score")),
                rank=i,
                metadata=json_mapping(d.get("document.metadata"), f"{prefix}.{i}.document.metadata"),
            )
            for i, d in enumerate(indexed(attrs, prefix))
        ]
        query = str_or_none(attrs.get("input.value") if kind == "RETRIEVER" else attrs.get("reranker.query"))
        # No documents attribute at all means not captured (or hidden), not "nothing retrieved".
        captured = docs if docs or "output.value" in attrs else None
        stage = otel.retrieval(span, attrs, DIALECT, documents=captured, query=query)
        return [RetrievalStage(DIALECT, stage.retrieval, rerank=kind == "RERANKER")]
    if kind == "GUARDRAIL":
        return [
            GuardrailStage(
                DIALECT,
                GuardrailCheck(
                    span_id=hex_span_id(span.span_id),
                    name=span.name,
                    target=None,
                    verdict="unknown",  # OpenInference defines no verdict attribute
                    native_verdict=str_or_none(attrs.get("output.value")),
                    start_ns=span.start_ns,
                    end_ns=span.end_ns,
                ),
            )
        ]
    return []


def _moderation(span: SpanRecord, attrs: Mapping[str, Any]) -> GuardrailStage | None:
    """OpenInference's openai instrumentor records moderation calls as LLM spans (named after the
    response class); they are guardrails: the verdict is in the output, the text in the input."""
    if not span.name.startswith("Moderation"):
        return None
    output = lenient(parse_json, attrs.get("output.value"), "output.value")
    results = output.get("results") if isinstance(output, Mapping) else None
    if not isinstance(results, list):
        return None
    flagged = any(isinstance(r, Mapping) and r.get("flagged") is True for r in results)
    categories = sorted(
        {
            str(name)
            for r in results
            if isinstance(r, Mapping) and isinstance(r.get("categories"), Mapping)
            for name, hit in r["categories"].items()
            if hit is True
        }
    )
    request = lenient(parse_json, attrs.get("llm.invocation_parameters"), "llm.invocation_parameters")
    text = request.get("input") if isinstance(request, Mapping) else None
    return GuardrailStage(
        DIALECT,
        GuardrailCheck(
            span_id=hex_span_id(span.span_id),
            name="openai.moderation",
            target=None,
            verdict="deny" if flagged else "allow",
            native_verdict="flagged" if flagged else "not_flagged",
            categories=tuple(categories),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
        ),
        checked_text=text if isinstance(text, str) else None,
    )


def _generation(span: SpanRecord, attrs: Mapping[str, Any]) -> GenerationStage:
    inputs = _messages(attrs, "llm.input_messages")
    outputs = _messages(attrs, "llm.output_messages")
    if (
        outputs is None
        and isinstance(attrs.get("output.value"), str)
        and attrs.get("output.mime_type") != "application/json"
    ):
        outputs = [Message("assistant", attrs["output.value"])]
    return GenerationStage(
        span_id=hex_span_id(span.span_id),
        dialect=DIALECT,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        provider=str_or_none(attrs.get("llm.provider") or attrs.get("llm.system")),
        model=str_or_none(
            attrs.get("llm.response.model_name") or attrs.get("llm.model_name") or attrs.get("llm.request.model_name")
        ),
        response_id=None,
        system_prompt=system_text(inputs),
        input_messages=inputs,
        answer=answer_text(outputs),
        input_tokens=int_or_none(attrs.get("llm.token_count.prompt")),
        output_tokens=int_or_none(attrs.get("llm.token_count.completion")),
        tool_calls=any(k.startswith("llm.output_messages.") and ".message.tool_calls." in k for k in attrs),
    )
