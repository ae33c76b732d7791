"""Score then strip: what leaves the host keeps every score, cause and metadata field, and no text.

An allowlist, for every dialect the processor reads and for any it does not: numbers and booleans
stay, strings stay only under keys known to hold ids, names and kinds (:data:`SAFE_KEYS`), events
only when known (``exception`` keeps its type, not its message), ``gen_ai.retrieval.documents`` keeps
ids, scores and the metadata reliability reads. A new dialect or key therefore cannot leak text.
Evaluation explanations quote claims, so stripped records carry a text-free explanation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mre import semconv as sc
from mre.model import Evaluation, Score
from mre.processor.dialects import safe_keys as registered_safe_keys

# Strings that are known to carry no text: ids, names, models, kinds, routes. Everything else that is
# a string is dropped (an allowlist: a dialect or key nobody listed cannot leak). Numbers and booleans
# carry no text and are always kept.
SAFE_KEYS = frozenset(
    {
        sc.GEN_AI_OPERATION_NAME,
        sc.GEN_AI_PROVIDER_NAME,
        sc.GEN_AI_SYSTEM_DEPRECATED,
        sc.GEN_AI_REQUEST_MODEL,
        sc.GEN_AI_RESPONSE_MODEL,
        sc.GEN_AI_RESPONSE_ID,
        sc.GEN_AI_RESPONSE_FINISH_REASONS,
        sc.GEN_AI_CONVERSATION_ID,
        sc.GEN_AI_WORKFLOW_NAME,
        sc.GEN_AI_DATA_SOURCE_ID,
        sc.GEN_AI_GUARDRAIL_NAME,
        sc.GEN_AI_GUARDRAIL_TARGET_TYPE,
        sc.GEN_AI_GUARDRAIL_VERDICT_TYPE,
        sc.GEN_AI_GUARDRAIL_RISK_CATEGORY,
        sc.GEN_AI_EVALUATION_NAME,
        sc.GEN_AI_EVALUATION_SCORE_LABEL,
        sc.MRE_EVALUATION_SOURCE,
        "gen_ai.agent.id",
        "gen_ai.agent.name",
        "gen_ai.output.type",
        "gen_ai.request.encoding_formats",
        "gen_ai.guardrail.component.name",
        "gen_ai.guardrail.result.value",
        sc.ERROR_TYPE,
        sc.SERVER_ADDRESS,
        "http.request.method",
        "http.method",
        sc.HTTP_ROUTE,
        "url.scheme",
        "db.system",
        "db.system.name",
        "db.operation",
        "db.operation.name",
        "db.collection.name",
        "exception.type",
        # OpenInference
        "openinference.span.kind",
        "llm.model_name",
        "llm.provider",
        "llm.system",
        "embedding.model_name",
        "session.id",
        # OpenLLMetry
        "llm.request.type",
        "traceloop.span.kind",
        "traceloop.entity.name",
        "traceloop.workflow.name",
        "gen_ai.task.name",
        "gen_ai.task.status",
        # OpenLIT
        "telemetry.sdk.name",
        "deployment.environment",
        "gen_ai.application_name",
        "gen_ai.environment",
        "gen_ai.sdk.version",
        "db.sdk.version",
    }
)
SAFE_PREFIXES = (sc.MRE_SCORE_PREFIX, "mre.failure.", "gen_ai.usage.", "llm.token_count.", "otel.")
SAFE_SUFFIXES = (".document.id", ".document.score", ".tool_call.id")
# Who asked and where: ids, not text, kept so stripped traces can still be searched by them.
SAFE_KEYS = SAFE_KEYS | {sc.MRE_PRINCIPAL, sc.MRE_ROUTE, "user.id", "enduser.id"}
# Document metadata kept in gen_ai.retrieval.documents: what reliability reads, no text.
SAFE_DOCUMENT_METADATA = frozenset(
    {sc.META_SOURCE, sc.META_UPDATED_AT, sc.META_VERSION, sc.META_SUPERSEDED_BY, sc.META_STATUS, sc.META_ACL, "family"}
)
# Events kept (their attributes filtered like a span's); any other event is dropped whole.
SAFE_EVENTS = frozenset({"exception", "gen_ai.evaluation.result"})


def is_safe(key: str, value: Any) -> bool:
    """Whether an attribute may leave a host that strips content."""
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, list | tuple) and all(isinstance(v, bool | int | float) for v in value):
        return True
    return (
        key in SAFE_KEYS
        or key.startswith(SAFE_PREFIXES)
        or key.endswith(SAFE_SUFFIXES)
        or key in registered_safe_keys()  # what registered dialects declare text-free
    )


def strip_documents(value: Any) -> Any:
    """``gen_ai.retrieval.documents`` with only ids, scores, ranks and the metadata reliability reads;
    unreadable -> dropped."""
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list):
        return None
    kept = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        doc: dict[str, Any] = {k: item[k] for k in ("id", "score", "distance", "rank") if k in item}
        metadata = item.get("metadata")
        if isinstance(metadata, Mapping):
            doc["metadata"] = {k: v for k, v in metadata.items() if k in SAFE_DOCUMENT_METADATA}
        kept.append(doc)
    return json.dumps(kept, ensure_ascii=False, default=str)


def strip_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if key == sc.GEN_AI_RETRIEVAL_DOCUMENTS:
            value = strip_documents(value)
            if value is not None:
                out[key] = value
        elif is_safe(key, value):
            out[key] = value
    return out


def keep_event(name: str) -> bool:
    return name in SAFE_EVENTS


def text_free_explanation(score: Score) -> str:
    """What an explanation may say once content must not leave: the verdict and the kinds of findings."""
    reasons = sorted({str(f.get("reason")) for f in score.details.get("unsupported", ()) if isinstance(f, Mapping)})
    findings = score.details.get("findings")
    kinds = sorted({str(f) for f in findings if isinstance(f, str)}) if isinstance(findings, list) else []
    parts = [f"{score.name} {score.value:.2f} ({score.label})"]
    if reasons:
        parts.append("unsupported claims: " + ", ".join(reasons))
    if kinds:
        parts.append("findings: " + ", ".join(kinds))
    return "; ".join(parts)


def score_attributes(evaluation: Evaluation) -> dict[str, float | str]:
    """``mre.score.<name>`` and ``mre.failure.cause`` for the evaluated span (both modes)."""
    out: dict[str, float | str] = {
        f"{sc.MRE_SCORE_PREFIX}{name}": float(s.value) for name, s in evaluation.scores.items()
    }
    if evaluation.cause is not None:
        out[sc.MRE_FAILURE_CAUSE] = evaluation.cause
    return out
