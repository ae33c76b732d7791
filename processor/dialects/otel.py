"""OpenTelemetry GenAI semantic conventions: the current names and the pre-1.37 ones (`gen_ai.system`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from mre.processor.dialects._json import MalformedAttribute, messages, parse_json, part_text
from mre.processor.dialects._stage import GenerationStage, GuardrailStage, RetrievalStage, Stage
from mre.processor.health import BAD_INPUT, MALFORMED_ATTRIBUTE
from mre.processor.spans import SpanRecord, hex_span_id

from mre import semconv as sc
from mre.model import Document, GuardrailCheck, Retrieval

DIALECT = "otel"
logger = logging.getLogger(__name__)

_GUARDRAIL_OPERATIONS = frozenset({sc.OP_GUARDRAIL, "apply_guardrail"})


def read_otel(span: SpanRecord) -> Stage | None:
    attrs = span.attributes
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if operation in sc.GENERATION_OPERATIONS:
        return _generation(span, attrs)
    if operation == sc.OP_RETRIEVAL:
        return _retrieval(span, attrs)
    if operation in _GUARDRAIL_OPERATIONS:
        return _guardrail(span, attrs)
    return None


def _generation(span: SpanRecord, attrs: Mapping[str, Any]) -> GenerationStage:
    inputs = _lenient(messages, attrs.get(sc.GEN_AI_INPUT_MESSAGES), sc.GEN_AI_INPUT_MESSAGES)
    outputs = _lenient(messages, attrs.get(sc.GEN_AI_OUTPUT_MESSAGES), sc.GEN_AI_OUTPUT_MESSAGES)
    system = _lenient(parse_json, attrs.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS), sc.GEN_AI_SYSTEM_INSTRUCTIONS)
    system_prompt = part_text(system) if system is not None else None
    if system_prompt is None and inputs:
        system_texts = [m.content for m in inputs if m.role in ("system", "developer") and m.content]
        system_prompt = "\n".join(system_texts) if system_texts else None
    answer = None
    if outputs is not None:
        texts = [m.content for m in outputs if m.role == "assistant" and m.content]
        answer = texts[0] if texts else ""
    return GenerationStage(
        span_id=hex_span_id(span.span_id),
        dialect=DIALECT,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        provider=_str(attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM_DEPRECATED)),
        model=_str(attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)),
        response_id=_str(attrs.get(sc.GEN_AI_RESPONSE_ID)),
        system_prompt=system_prompt,
        input_messages=inputs,
        answer=answer,
        input_tokens=_int(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS)),
        output_tokens=_int(attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)),
    )


def _retrieval(span: SpanRecord, attrs: Mapping[str, Any]) -> RetrievalStage:
    raw = _lenient(parse_json, attrs.get(sc.GEN_AI_RETRIEVAL_DOCUMENTS), sc.GEN_AI_RETRIEVAL_DOCUMENTS)
    documents: list[Document] | None = None
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        documents = [Document.from_json(item, rank=i) for i, item in enumerate(raw) if isinstance(item, Mapping)]
    elif raw is not None:
        logger.warning(
            "span %s: %s is not a list; documents treated as not captured",
            hex_span_id(span.span_id),
            sc.GEN_AI_RETRIEVAL_DOCUMENTS,
        )
    top_k = attrs.get(sc.GEN_AI_REQUEST_TOP_K, attrs.get(sc.GEN_AI_RETRIEVAL_TOP_K_UTIL))
    return RetrievalStage(
        DIALECT,
        Retrieval(
            span_id=hex_span_id(span.span_id),
            query=_str(attrs.get(sc.GEN_AI_RETRIEVAL_QUERY_TEXT)),
            documents=documents,
            data_source=_str(attrs.get(sc.GEN_AI_DATA_SOURCE_ID)),
            top_k=_int(top_k),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
        ),
    )


def _guardrail(span: SpanRecord, attrs: Mapping[str, Any]) -> GuardrailStage:
    native = _str(attrs.get(sc.GEN_AI_GUARDRAIL_VERDICT_TYPE))
    verdict = native if native in sc.GUARDRAIL_VERDICTS else "unknown"
    categories = attrs.get(sc.GEN_AI_GUARDRAIL_RISK_CATEGORY) or ()
    if isinstance(categories, str):
        categories = (categories,)
    name = _str(attrs.get(sc.GEN_AI_GUARDRAIL_NAME)) or span.name.removeprefix(f"{sc.OP_GUARDRAIL} ")
    target = _str(attrs.get(sc.GEN_AI_GUARDRAIL_TARGET_TYPE)) or "output"
    return GuardrailStage(
        DIALECT,
        GuardrailCheck(
            span_id=hex_span_id(span.span_id),
            name=name,
            target=target,
            verdict=verdict,
            native_verdict=native,
            categories=tuple(str(c) for c in categories),
            score=_float(attrs.get(sc.GEN_AI_GUARDRAIL_RISK_SCORE)),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
        ),
    )


def _lenient(reader: Any, value: Any, key: str) -> Any:
    """A malformed content attribute makes that field "not captured"; the rest of the span still counts."""
    try:
        return reader(value, key)
    except MalformedAttribute as exc:
        BAD_INPUT.record(MALFORMED_ATTRIBUTE, f"{exc} (treated as not captured)")
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
