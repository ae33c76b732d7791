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

_READERS: tuple[tuple[str, Callable[[SpanRecord], bool], Callable[[SpanRecord], list[Stage]]], ...] = (
    (openinference.DIALECT, openinference.detect, openinference.read_openinference),
    (openllmetry.DIALECT, openllmetry.detect, openllmetry.read_openllmetry),
    (openlit.DIALECT, openlit.detect, openlit.read_openlit),
)


def detect_dialect(span: SpanRecord) -> str:
    for name, detect, _ in _READERS:
        if detect(span):
            return name
    return otel.DIALECT


def read_span(span: SpanRecord) -> list[Stage]:
    """The stages this span records (usually one; none for spans that are not a GenAI stage)."""
    for _, detect, read in _READERS:
        if detect(span):
            return read(span)
    return otel.read_otel(span)


__all__ = ["GenerationStage", "GuardrailStage", "RetrievalStage", "Stage", "detect_dialect", "read_span"]
