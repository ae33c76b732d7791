"""Presidio as a PII guardrail: ``AnalyzerEngine.analyze`` becomes a ``run_guardrail presidio`` span.

Verdict ``deny`` when any PII entity is found, ``allow`` otherwise; the entity types are the risk
categories and the highest confidence is the risk score. The target is ``input`` unless the call runs
inside ``mre.instrumentation.checking("output")``. The analysed text is never recorded.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from mre import semconv as sc
from mre.instrumentation._coexist import GUARDRAIL_OPERATIONS
from mre.instrumentation._patching import Patch, PatchingInstrumentor
from mre.instrumentation._settings import guardrail_target
from mre.instrumentation._wrapping import Attributes, CallSpec

_instruments = ("presidio-analyzer >= 2.2",)
NAME = "presidio"


def _request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    return {
        sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL,
        sc.GEN_AI_PROVIDER_NAME: NAME,
        sc.GEN_AI_GUARDRAIL_NAME: NAME,
        sc.GEN_AI_GUARDRAIL_TARGET_TYPE: guardrail_target(),
    }


def _response(results: Any, capture: bool) -> Attributes:
    found = list(results or ())
    attrs: Attributes = {sc.GEN_AI_GUARDRAIL_VERDICT_TYPE: "deny" if found else "allow"}
    if found:
        attrs[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY] = sorted({str(getattr(r, "entity_type", "")) for r in found})
        attrs[sc.GEN_AI_GUARDRAIL_RISK_SCORE] = max(float(getattr(r, "score", 0.0) or 0.0) for r in found)
    return attrs


SPEC = CallSpec(
    lambda _: f"{sc.OP_GUARDRAIL} {NAME}",
    _request,
    _response,
    kind=SpanKind.INTERNAL,
    family=GUARDRAIL_OPERATIONS,
    positional=("text", "language"),
)
PATCHES = (Patch("presidio_analyzer.analyzer_engine", "AnalyzerEngine", "analyze", SPEC, False),)


class PresidioInstrumentor(PatchingInstrumentor):
    PATCHES = PATCHES
    INSTRUMENTS = _instruments


__all__ = ["PresidioInstrumentor"]
