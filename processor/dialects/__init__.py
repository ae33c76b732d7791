"""Dialect readers: turn one span of any GenAI dialect into normalized stages.

Detection is per span, in the order of ``shared/reference/semconv.md`` §7: OpenInference, OpenLLMetry,
OpenLIT, then the OpenTelemetry GenAI conventions (current and pre-1.37). Each stage keeps its dialect
(identical keys carry different shapes across dialects). Readers are pure functions.
"""

from __future__ import annotations

from collections.abc import Callable

from mre.processor.dialects import openinference, openlit, openllmetry, otel
from mre.processor.dialects._stage import GenerationStage, GuardrailStage, RetrievalStage, Stage
from mre.processor.spans import SpanRecord

_READ: dict[str, Callable[[SpanRecord], list[Stage]]] = {
    openinference.DIALECT: openinference.read_openinference,
    openllmetry.DIALECT: openllmetry.read_openllmetry,
    openlit.DIALECT: openlit.read_openlit,
    otel.DIALECT: otel.read_otel,
}


def detect_dialect(span: SpanRecord) -> str:
    """One pass over the keys (this runs for every span of every trace)."""
    attrs = span.attributes
    if openinference.KIND in attrs:
        return openinference.DIALECT
    llmetry = lit = False
    for key in attrs:
        if key in openllmetry.MARK_KEYS or key.startswith(openllmetry.MARK_PREFIXES):
            llmetry = True
            break
        if key == "gen_ai.usage.cost":
            lit = True
    if llmetry or openllmetry.detect_without_keys(span):
        return openllmetry.DIALECT
    if lit or openlit.detect(span):
        return openlit.DIALECT
    return otel.DIALECT


def read_span(span: SpanRecord) -> list[Stage]:
    """The stages this span records (usually one; none for spans that are not a GenAI stage)."""
    if not span.attributes and not span.events:
        return []
    return _READ[detect_dialect(span)](span)


__all__ = ["GenerationStage", "GuardrailStage", "RetrievalStage", "Stage", "detect_dialect", "read_span"]
