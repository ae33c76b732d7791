"""`gen_ai.evaluation.result` log records, parented to the evaluated generation span.

The semconv event is a log record whose trace and span ids are those of the evaluated span; OpenLIT
and pydantic-ai emit the same, so any logs backend that knows GenAI shows our scores next to theirs.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import mre
from mre import semconv as sc
from mre.model import Evaluation
from mre.processor.strip import text_free_explanation
from mre.redaction import redact_text

EXPLANATION_LIMIT = 500  # characters; explanations quote the answer, so keep them short


class EvaluationEventSink:
    def __init__(self, logger_provider: LoggerProvider | None = None, strip_content: bool = False) -> None:
        self._strip = strip_content
        provider = logger_provider or get_logger_provider()
        self._logger = provider.get_logger("mre.processor", mre.__version__)

    def on_evaluation(self, evaluation: Evaluation) -> None:
        interaction = evaluation.interaction
        parent = SpanContext(
            trace_id=int(interaction.trace_id, 16),
            span_id=int(interaction.span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        context = trace.set_span_in_context(NonRecordingSpan(parent))
        for attributes in evaluation_attributes(evaluation, self._strip):
            self._logger.emit(
                event_name=sc.EVENT_EVALUATION_RESULT,
                context=context,
                severity_number=SeverityNumber.INFO,
                attributes=attributes,
            )


def evaluation_attributes(evaluation: Evaluation, strip_content: bool = False) -> list[dict[str, str | float]]:
    """The attributes of one `gen_ai.evaluation.result` record per score (shared by both modes).
    With ``strip_content`` the explanation names verdicts and finding kinds, never quoted text."""
    out = []
    for score in evaluation.scores.values():
        attributes: dict[str, str | float] = {
            sc.GEN_AI_EVALUATION_NAME: score.name,
            sc.GEN_AI_EVALUATION_SCORE_VALUE: float(score.value),
            sc.GEN_AI_EVALUATION_SCORE_LABEL: score.label,
            sc.GEN_AI_EVALUATION_EXPLANATION: (
                text_free_explanation(score) if strip_content else redact_text(score.explanation)[:EXPLANATION_LIMIT]
            ),
        }
        if evaluation.interaction.response_id:
            attributes[sc.GEN_AI_RESPONSE_ID] = evaluation.interaction.response_id
        if evaluation.cause is not None:
            attributes[sc.MRE_FAILURE_CAUSE] = evaluation.cause
        out.append(attributes)
    return out
