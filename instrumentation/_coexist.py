"""Coexistence with other GenAI instrumentations of the same library.

Decision (documented in the README): when another instrumentation (official OpenTelemetry,
OpenLLMetry, OpenInference) already covers a call, mre yields: the user gets that instrumentation's
span only, and mre's processor reads its dialect anyway. Two checks, so the order of instrumenting
does not matter:

- at instrument time, a method already wrapped by someone else is not wrapped again;
- at call time, a call made while another instrumentation's GenAI span for it is current passes
  through untraced (their wrapper ran first, around ours).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from mre import semconv as sc

MRE_MARK = "_mre_instrumented"
_INSTRUMENTATION_PACKAGES = (
    "opentelemetry.",
    "openinference.",
    "openlit",
    "traceloop",
    "langtrace",
    "agentops",
    "ddtrace",
    "logfire",
    "langfuse",
    "sentry_sdk",
)
_FOREIGN_MARKS = ("openinference.span.kind", "llm.request.type", sc.GEN_AI_OPERATION_NAME)
# What other instrumentations call each family of operations (semconv, OpenInference, OpenLLMetry).
LLM_OPERATIONS = frozenset({*sc.GENERATION_OPERATIONS, "embeddings", "LLM", "EMBEDDING", "completion"})
RETRIEVAL_OPERATIONS = frozenset({sc.OP_RETRIEVAL, "RETRIEVER", "vector_db_retrieve", "vectordb"})
GUARDRAIL_OPERATIONS = frozenset({sc.OP_GUARDRAIL, "apply_guardrail", "GUARDRAIL"})


def wrapped_by_other(owner: Any, attribute: str) -> bool:
    """True when ``owner.attribute`` is already a wrapt wrapper that is not ours."""
    target = owner.__dict__.get(attribute) if hasattr(owner, "__dict__") else None
    # Every instrumentation of these libraries patches with wrapt (its FunctionWrapper holds the
    # wrapper in ``_self_wrapper``); plain decorators (functools.wraps) are the library's own.
    if target is None or not hasattr(target, "__wrapped__"):
        return False
    try:
        wrapper = target._self_wrapper
    except AttributeError:
        return False
    if getattr(wrapper, MRE_MARK, False):
        return False
    # Libraries use wrapt for their own decorators too (LlamaIndex's dispatcher spans): only wrappers
    # that come from an instrumentation package count.
    module = getattr(wrapper, "__module__", None) or type(wrapper).__module__
    return isinstance(module, str) and module.startswith(_INSTRUMENTATION_PACKAGES)


def foreign_genai_span_active(operations: frozenset[str] = LLM_OPERATIONS) -> bool:
    """True when the current span is another instrumentation's span of the same family (not ours)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return False
    scope = getattr(span, "instrumentation_scope", None)
    if scope is not None and scope.name.startswith("mre."):
        return False
    attributes = getattr(span, "attributes", None) or {}
    for key in _FOREIGN_MARKS:
        value = attributes.get(key)
        if value is not None and str(value) in operations:
            return True
    return False


def mark(wrapper: Any) -> Any:
    setattr(wrapper, MRE_MARK, True)
    return wrapper
