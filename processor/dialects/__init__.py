"""Dialect readers: turn one span of any GenAI dialect into a role-tagged, normalized stage.

Each reader is a pure function ``SpanRecord -> Stage | None``. :func:`read_span` detects the dialect
per span and keeps its name on the result (identical keys carry different shapes across dialects).
"""

from __future__ import annotations

from mre.processor.dialects._stage import GenerationStage, GuardrailStage, RetrievalStage, Stage
from mre.processor.dialects.otel import read_otel
from mre.processor.spans import SpanRecord


def read_span(span: SpanRecord) -> Stage | None:
    """The stage this span records, or None for spans that are not a GenAI stage."""
    return read_otel(span)


__all__ = ["GenerationStage", "GuardrailStage", "RetrievalStage", "Stage", "read_span"]
