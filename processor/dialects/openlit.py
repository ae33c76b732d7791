"""OpenLIT: OTel-like keys (``gen_ai.*``) plus its own marks: ``telemetry.sdk.name=openlit`` on the
resource, ``gen_ai.usage.cost``, ``guard.evaluation`` span events, and ``vectordb`` operations whose
query is ``db.query.text="texts=[...]"`` (no per-document results)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from mre import semconv as sc
from mre.model import GuardrailCheck
from mre.processor.dialects import otel
from mre.processor.dialects._common import float_or_none, lenient, str_or_none
from mre.processor.dialects._json import messages
from mre.processor.dialects._stage import GuardrailStage, Stage
from mre.processor.spans import SpanRecord, hex_span_id

DIALECT = "openlit"
_GUARD_EVENT = "guard.evaluation"
MAX_QUERY_TEXT = 64 * 1024  # a query list longer than this is not read (literal_eval is not linear in nesting)
_ACTIONS = {"allow": "allow", "deny": "deny", "block": "deny", "redact": "modify", "warn": "warn"}


def detect(span: SpanRecord) -> bool:
    attrs = span.attributes
    if span.resource.get("telemetry.sdk.name") == "openlit":
        return True
    if "gen_ai.usage.cost" in attrs or attrs.get(sc.GEN_AI_OPERATION_NAME) == "vectordb":
        return True
    return bool(span.events) and any(e.name == _GUARD_EVENT for e in span.events)  # most spans have none


def read_openlit(span: SpanRecord) -> list[Stage]:
    attrs = span.attributes
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    stages: list[Stage] = []
    if operation in sc.GENERATION_OPERATIONS:
        stages.append(otel.generation(span, attrs, DIALECT))
    elif operation == sc.OP_RETRIEVAL:
        stages.append(otel.retrieval(span, attrs, DIALECT))
    elif operation == "vectordb" and str(attrs.get("db.operation.name", "")).upper() in ("GET", "QUERY", "SEARCH"):
        stages.append(
            otel.retrieval(span, attrs, DIALECT, documents=None, query=_query_text(attrs.get("db.query.text")))
        )
    elif operation in otel.GUARDRAIL_OPERATIONS:
        stages.append(otel.guardrail(span, attrs, DIALECT))
    elif operation == "moderation":
        stages.append(_moderation(span, attrs))
    for i, event in enumerate(e for e in span.events if e.name == _GUARD_EVENT):
        action = str_or_none(event.attributes.get("guard.action") or event.attributes.get("guard.verdict"))
        phase = event.attributes.get("guard.phase")
        classification = str_or_none(event.attributes.get("guard.classification"))
        stages.append(
            GuardrailStage(
                DIALECT,
                GuardrailCheck(
                    span_id=f"{hex_span_id(span.span_id)}:{i}",
                    name=str_or_none(event.attributes.get("guard.name") or event.attributes.get("guard.validator"))
                    or "guard",
                    target="input" if phase == "preflight" else "output",
                    verdict=_ACTIONS.get(action or "", "unknown"),
                    native_verdict=action,
                    categories=(classification,) if classification else (),
                    score=float_or_none(event.attributes.get("guard.score")),
                    # Guard events sit on the LLM span; postflight ones judge its output.
                    start_ns=span.end_ns if phase != "preflight" else span.start_ns - 1,
                    end_ns=span.end_ns if phase != "preflight" else span.start_ns - 1,
                ),
            )
        )
    return stages


def _query_text(value: object) -> str | None:
    """``texts=['What is ...']`` -> ``What is ...``; anything else (``embeddings=1 vectors``) is no text."""
    text = str_or_none(value)
    if text is None or not text.startswith("texts=") or len(text) > MAX_QUERY_TEXT:
        return None
    try:
        parsed = ast.literal_eval(text[len("texts=") :])
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
        return None
    if isinstance(parsed, list | tuple) and parsed and isinstance(parsed[0], str):
        return parsed[0]
    return None


def _moderation(span: SpanRecord, attrs: Mapping[str, Any]) -> GuardrailStage:
    """OpenLIT's openai moderation span: ``gen_ai.moderation.flagged``, the text as input messages."""
    flagged = str(attrs.get("gen_ai.moderation.flagged", "")).lower() == "true"
    inputs = lenient(messages, attrs.get(sc.GEN_AI_INPUT_MESSAGES), sc.GEN_AI_INPUT_MESSAGES)
    text = "\n".join(m.content for m in inputs or ()) or None
    categories = attrs.get("gen_ai.moderation.categories") or ()
    return GuardrailStage(
        DIALECT,
        GuardrailCheck(
            span_id=hex_span_id(span.span_id),
            name="openai.moderation",
            target=None,
            verdict="deny" if flagged else "allow",
            native_verdict="flagged" if flagged else "not_flagged",
            categories=(categories,) if isinstance(categories, str) else tuple(str(c) for c in categories),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
        ),
        checked_text=text,
    )
