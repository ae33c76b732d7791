"""``mre.feedback(...)``: attach a human verdict to an answer.

The verdict is a ``gen_ai.evaluation.result`` log record marked ``mre.evaluation.source=human``,
carrying the trace (and optionally span) id of the answer it judges. In-process, the embedded
processor reads it from the LoggerProvider; otherwise it travels over OTLP like any log record and
``mre serve`` receives it (the collector routes it by trace id to the replica that scored the answer).
Either way it is matched with the automated verdicts, and agreement per scorer becomes a metric.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import mre
from mre import semconv as sc
from mre.processor.calibration import HumanVerdict, verdict_from_record

COMMENT_LIMIT = 500  # characters


def _hex(value: str | int | None, digits: int, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value < 16**digits:
            raise ValueError(f"{what} must be a non-zero {digits * 4}-bit integer")
        return f"{value:0{digits}x}"
    if isinstance(value, str):
        text = value.lower().removeprefix("0x")
        if len(text) == digits and all(c in "0123456789abcdef" for c in text) and int(text, 16):
            return text
    raise ValueError(f"{what} must be {digits} hex digits or an int, got {value!r}")


def feedback(
    trace_id: str | int | None = None,
    *,
    passed: bool | None = None,
    score: float | None = None,
    evaluation: str = sc.EVALUATION_OVERALL,
    span_id: str | int | None = None,
    annotator: str | None = None,
    comment: str | None = None,
    logger_provider: LoggerProvider | None = None,
) -> HumanVerdict:
    """Record a human verdict on the answer of ``trace_id`` (default: the current span's trace).

    ``evaluation`` is a scorer name (``faithfulness``...) or ``overall`` (thumbs up/down on the whole
    answer, compared with "every SLO good"). Give ``passed`` or a ``score`` in [0, 1] (pass at 0.5).
    ``comment`` may hold user text: it goes to the log record only, never to metrics. Raises
    ValueError on a malformed id or verdict; nothing is emitted then."""
    if trace_id is None:
        current = trace.get_current_span().get_span_context()
        if not current.is_valid:
            raise ValueError("no trace_id given and no current span: pass the trace id of the answer")
        trace_id = current.trace_id
    trace_hex = _hex(trace_id, 32, "trace_id")
    span_hex = _hex(span_id, 16, "span_id")
    if passed is None and score is None:
        raise ValueError("give passed=True/False or a score in [0, 1]")
    if not isinstance(evaluation, str) or not evaluation:
        raise ValueError("evaluation must be a scorer name or 'overall'")
    attributes: dict[str, str | float] = {
        sc.GEN_AI_EVALUATION_NAME: evaluation,
        sc.MRE_EVALUATION_SOURCE: sc.EVALUATION_SOURCE_HUMAN,
    }
    if score is not None:
        attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] = score
    if passed is not None:
        attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] = "pass" if passed else "fail"
    if annotator:
        attributes[sc.MRE_EVALUATION_ANNOTATOR] = annotator
    if comment:
        attributes[sc.GEN_AI_EVALUATION_EXPLANATION] = comment[:COMMENT_LIMIT]
    assert trace_hex is not None
    verdict = verdict_from_record(trace_hex, span_hex, attributes)  # validates the score the same way
    assert verdict is not None
    parent = SpanContext(
        trace_id=int(trace_hex, 16),
        span_id=int(span_hex, 16) if span_hex else 0,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    provider = logger_provider or get_logger_provider()
    provider.get_logger("mre.feedback", mre.__version__).emit(
        event_name=sc.EVENT_EVALUATION_RESULT,
        context=trace.set_span_in_context(NonRecordingSpan(parent)),
        severity_number=SeverityNumber.INFO,
        attributes=attributes,
    )
    return verdict
