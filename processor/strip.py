"""Score then strip: what leaves the host keeps every score, cause and metadata field, and no text.

Pure functions over attribute mappings, for every dialect the processor reads: the GenAI content
attributes, OpenInference's flattened messages and documents, OpenLLMetry's indexed prompts and
entity payloads, and document text inside ``gen_ai.retrieval.documents`` (ids, scores and metadata
stay). Evaluation explanations quote claims, so stripped records carry a text-free explanation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mre import semconv as sc
from mre.model import Evaluation, Score

CONTENT_KEYS = frozenset(
    {
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.GEN_AI_RETRIEVAL_QUERY_TEXT,
        sc.GEN_AI_GUARDRAIL_VERDICT_REASON,
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
        "llm.invocation_parameters",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "gen_ai.task.input",
        "gen_ai.task.output",
        "db.query.text",
        "db.query.result.document",
        "db.search.result.entity",
        "guard.explanation",
    }
)
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts.",
    "llm.choices.",
    "embedding.embeddings.",
)
CONTENT_SUFFIXES = (
    ".document.content",
    ".message.content",
    ".message_content.text",
    ".prompt.text",
    ".completion.text",
)
DROPPED_EVENTS = frozenset({"gen_ai.content.prompt", "gen_ai.content.completion"})


def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES) or key.endswith(CONTENT_SUFFIXES)


def strip_documents(value: Any) -> Any:
    """``gen_ai.retrieval.documents`` without the text of each document; unreadable -> dropped."""
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    kept = [{k: v for k, v in item.items() if k != "content"} for item in items if isinstance(item, Mapping)]
    return json.dumps(kept, ensure_ascii=False, default=str)


def strip_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if is_content_key(key):
            continue
        if key == sc.GEN_AI_RETRIEVAL_DOCUMENTS:
            value = strip_documents(value)
            if value is None:
                continue
        out[key] = value
    return out


def keep_event(name: str) -> bool:
    return name not in DROPPED_EVENTS


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
