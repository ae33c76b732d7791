"""Guardrails AI: ``Guard.__call__`` and ``Guard.parse`` (``validate`` goes through ``parse``) become
``run_guardrail {guard name}`` spans on the output.

Verdict ``deny`` when validation failed, ``modify`` when it passed after a fix changed the output,
``allow`` otherwise; the failing validators are the risk categories. The validated text is not
recorded. Guardrails AI sends its own hub telemetry unless ``enable_metrics=false`` is set in
``~/.guardrailsrc``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from mre import semconv as sc
from mre.instrumentation._coexist import GUARDRAIL_OPERATIONS
from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._wrapping import Attributes, CallSpec

_instruments = ("guardrails-ai >= 0.5",)


def _request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    return {
        sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL,
        sc.GEN_AI_PROVIDER_NAME: "guardrails_ai",
        sc.GEN_AI_GUARDRAIL_NAME: getattr(instance, "name", None) or "guard",
        sc.GEN_AI_GUARDRAIL_TARGET_TYPE: "output",
    }


def _response(outcome: Any, capture: bool) -> Attributes:
    passed = bool(getattr(outcome, "validation_passed", False))
    failed = [
        str(getattr(s, "validator_name", ""))
        for s in getattr(outcome, "validation_summaries", None) or ()
        if getattr(s, "validator_status", "") == "fail"
    ]
    raw, validated = getattr(outcome, "raw_llm_output", None), getattr(outcome, "validated_output", None)
    if not passed:
        verdict = "deny"
    elif failed or (raw is not None and validated is not None and raw != validated):
        verdict = "modify"  # fixed on the way: passed, but not as the model wrote it
    else:
        verdict = "allow"
    attrs: Attributes = {sc.GEN_AI_GUARDRAIL_VERDICT_TYPE: verdict, "guardrails_ai.validation_passed": passed}
    if failed:
        attrs[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY] = sorted(set(failed))
    return attrs


def _name(attrs: Attributes) -> str:
    return f"{sc.OP_GUARDRAIL} {attrs.get(sc.GEN_AI_GUARDRAIL_NAME, 'guard')}"


SPEC = CallSpec(_name, _request, _response, kind=SpanKind.INTERNAL, family=GUARDRAIL_OPERATIONS)
PATCHES = (
    Patch("guardrails.guard", "Guard", "parse", SPEC, False),
    Patch("guardrails.guard", "Guard", "__call__", SPEC, False),
)


class GuardrailsInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["GuardrailsInstrumentor"]
