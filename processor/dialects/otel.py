"""OpenTelemetry GenAI semantic conventions: the current names and the pre-1.37 ones.

Pre-1.37: ``gen_ai.system`` instead of ``gen_ai.provider.name``, ``gen_ai.usage.prompt_tokens`` /
``completion_tokens``, and content as span events ``gen_ai.content.prompt`` (``gen_ai.prompt``) and
``gen_ai.content.completion`` (``gen_ai.completion``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from mre import semconv as sc
from mre.model import Document, GuardrailCheck, Message, Retrieval
from mre.processor.dialects._common import float_or_none, int_or_none, lenient, str_or_none
from mre.processor.dialects._json import (
    answer_text,
    mentions_tool_calls,
    messages,
    parse_json,
    part_text,
    system_text,
    unflatten,
)
from mre.processor.dialects._stage import GenerationStage, GuardrailStage, RetrievalStage, Stage
from mre.processor.health import BAD_INPUT, MALFORMED_ATTRIBUTE
from mre.processor.spans import SpanRecord, hex_span_id

DIALECT = "otel"
logger = logging.getLogger(__name__)

GUARDRAIL_OPERATIONS = frozenset({sc.OP_GUARDRAIL, "apply_guardrail"})
_LEGACY_PROMPT_EVENT = "gen_ai.content.prompt"
_LEGACY_COMPLETION_EVENT = "gen_ai.content.completion"


def read_otel(span: SpanRecord) -> list[Stage]:
    attrs = span.attributes
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if operation in sc.GENERATION_OPERATIONS:
        return [generation(span, attrs, DIALECT)]
    if operation == sc.OP_RETRIEVAL:
        return [retrieval(span, attrs, DIALECT)]
    if operation in GUARDRAIL_OPERATIONS:
        return [guardrail(span, attrs, DIALECT)]
    return []


def generation(
    span: SpanRecord,
    attrs: Mapping[str, Any],
    dialect: str,
    inputs: Sequence[Message] | None = None,
    outputs: Sequence[Message] | None = None,
    tool_calls: bool = False,
) -> GenerationStage:
    """A generation span in OTel keys; dialects that keep content elsewhere pass it in."""
    if inputs is None:
        inputs = lenient(messages, attrs.get(sc.GEN_AI_INPUT_MESSAGES), sc.GEN_AI_INPUT_MESSAGES)
    if outputs is None:
        outputs = lenient(messages, attrs.get(sc.GEN_AI_OUTPUT_MESSAGES), sc.GEN_AI_OUTPUT_MESSAGES)
    if inputs is None and outputs is None:
        inputs, outputs = _legacy_events(span)
    inputs = unflatten(inputs)
    system = lenient(parse_json, attrs.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS), sc.GEN_AI_SYSTEM_INSTRUCTIONS)
    system_prompt = part_text(system) if system is not None else system_text(inputs)
    answer = answer_text(outputs)
    tool_calls = mentions_tool_calls(attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)) or tool_calls
    return GenerationStage(
        span_id=hex_span_id(span.span_id),
        dialect=dialect,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        provider=str_or_none(attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM_DEPRECATED)),
        model=str_or_none(attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)),
        response_id=str_or_none(attrs.get(sc.GEN_AI_RESPONSE_ID)),
        system_prompt=system_prompt,
        input_messages=inputs,
        answer=answer,
        input_tokens=int_or_none(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS, attrs.get("gen_ai.usage.prompt_tokens"))),
        output_tokens=int_or_none(
            attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, attrs.get("gen_ai.usage.completion_tokens"))
        ),
        tool_calls=tool_calls,
    )


def _legacy_events(span: SpanRecord) -> tuple[list[Message] | None, list[Message] | None]:
    inputs = outputs = None
    for event in span.events:
        if event.name == _LEGACY_PROMPT_EVENT:
            inputs = lenient(messages, event.attributes.get("gen_ai.prompt"), "gen_ai.prompt")
            if inputs is None and isinstance(event.attributes.get("gen_ai.prompt"), str):
                inputs = [Message("user", event.attributes["gen_ai.prompt"])]
        elif event.name == _LEGACY_COMPLETION_EVENT:
            raw = event.attributes.get("gen_ai.completion")
            outputs = lenient(messages, raw, "gen_ai.completion")
            if outputs is None and isinstance(raw, str):
                outputs = [Message("assistant", raw)]
            elif outputs:
                outputs = [Message("assistant" if m.role == "user" else m.role, m.content) for m in outputs]
    return inputs, outputs


def retrieval(
    span: SpanRecord,
    attrs: Mapping[str, Any],
    dialect: str,
    documents: Sequence[Document] | None = None,
    query: str | None = None,
) -> RetrievalStage:
    if documents is None:
        raw = lenient(parse_json, attrs.get(sc.GEN_AI_RETRIEVAL_DOCUMENTS), sc.GEN_AI_RETRIEVAL_DOCUMENTS)
        # JSON gives lists and dicts: their type is checked before the ABCs (a call into abc each).
        if type(raw) is list or (isinstance(raw, Sequence) and not isinstance(raw, str)):
            documents = [
                Document.from_json(item, rank=i)
                for i, item in enumerate(raw)
                if type(item) is dict or isinstance(item, Mapping)
            ]
        elif raw is not None:
            BAD_INPUT.record(MALFORMED_ATTRIBUTE, f"{sc.GEN_AI_RETRIEVAL_DOCUMENTS} is not a list")
    top_k = attrs.get(
        sc.GEN_AI_REQUEST_TOP_K, attrs.get(sc.GEN_AI_RETRIEVAL_TOP_K_UTIL, attrs.get("db.vector.query.top_k"))
    )
    return RetrievalStage(
        dialect,
        Retrieval(
            span_id=hex_span_id(span.span_id),
            query=query if query is not None else str_or_none(attrs.get(sc.GEN_AI_RETRIEVAL_QUERY_TEXT)),
            documents=documents,
            data_source=str_or_none(attrs.get(sc.GEN_AI_DATA_SOURCE_ID) or attrs.get("db.collection.name")),
            top_k=int_or_none(top_k) if not isinstance(top_k, float) else int(top_k),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
        ),
    )


def guardrail(span: SpanRecord, attrs: Mapping[str, Any], dialect: str) -> GuardrailStage:
    native = str_or_none(attrs.get(sc.GEN_AI_GUARDRAIL_VERDICT_TYPE)) or str_or_none(
        attrs.get("gen_ai.guardrail.result.value")
    )
    verdict = native if native in sc.GUARDRAIL_VERDICTS else "unknown"
    categories = attrs.get(sc.GEN_AI_GUARDRAIL_RISK_CATEGORY) or attrs.get("gen_ai.guardrail.risk.category") or ()
    if isinstance(categories, str):
        categories = (categories,)
    name = (
        str_or_none(attrs.get(sc.GEN_AI_GUARDRAIL_NAME))
        or str_or_none(attrs.get("gen_ai.guardrail.component.name"))
        or span.name.split(" ", 1)[-1]
    )
    target = str_or_none(attrs.get(sc.GEN_AI_GUARDRAIL_TARGET_TYPE))  # None: placed by assembly
    return GuardrailStage(
        dialect,
        GuardrailCheck(
            span_id=hex_span_id(span.span_id),
            name=name,
            target=target,
            verdict=verdict,
            native_verdict=native,
            categories=tuple(str(c) for c in categories),
            score=float_or_none(attrs.get(sc.GEN_AI_GUARDRAIL_RISK_SCORE)),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
        ),
    )
