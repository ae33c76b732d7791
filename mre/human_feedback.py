"""``mre.feedback(...)``: attach a human verdict to an answer.

The verdict is a ``gen_ai.evaluation.result`` log record marked ``mre.evaluation.source=human``,
carrying the trace (and optionally span) id of the answer it judges. In-process, the embedded
processor reads it from the LoggerProvider; otherwise it travels over OTLP like any log record and
``mre serve`` receives it (the collector routes it by trace id to the replica that scored the answer).
Either way it is matched with the automated verdicts, and agreement per scorer becomes a metric.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import mre
from mre import semconv as sc

COMMENT_LIMIT = 500  # characters
DEFAULT_THRESHOLD = 0.5  # a score passes at this; also pass/fail for a scorer no SLO gives a threshold to
MAX_NAME_CHARS = 128  # evaluation names and annotators longer than this are cut
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class HumanVerdict:
    trace_id: str  # 32 lower-case hex digits
    evaluation: str
    passed: bool
    span_id: str | None = None  # the evaluated generation; None: the trace's answer(s)
    score: float | None = None
    annotator: str | None = None


def is_human(attributes: Mapping[str, Any] | None) -> bool:
    """Is this log record a human verdict? (cheap: every log record of the app may be asked)"""
    return attributes is not None and attributes.get(sc.MRE_EVALUATION_SOURCE) == sc.EVALUATION_SOURCE_HUMAN


def verdict_from_record(trace_id: str, span_id: str | None, attributes: Mapping[str, Any]) -> HumanVerdict | None:
    """A ``gen_ai.evaluation.result`` record's verdict when it is marked human, else None. Raises
    ValueError naming the problem when a human record cannot be read."""
    if not is_human(attributes):
        return None
    trace_id = trace_id.lower()
    if not _HEX32.match(trace_id) or trace_id == "0" * 32:
        raise ValueError("a human verdict needs the trace id of the answer it judges")
    name = attributes.get(sc.GEN_AI_EVALUATION_NAME) or sc.EVALUATION_OVERALL
    label = attributes.get(sc.GEN_AI_EVALUATION_SCORE_LABEL)
    value = attributes.get(sc.GEN_AI_EVALUATION_SCORE_VALUE)
    score = None
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{sc.GEN_AI_EVALUATION_SCORE_VALUE} must be a number in [0, 1]")
        score = float(value)
    if label in ("pass", "fail"):
        passed = label == "pass"
    elif score is not None:
        passed = score >= DEFAULT_THRESHOLD
    else:
        raise ValueError(f"a human verdict needs {sc.GEN_AI_EVALUATION_SCORE_LABEL} pass/fail or a score")
    span = span_id.lower() if span_id else None
    if span is not None and (not _HEX16.match(span) or span == "0" * 16):
        span = None  # no (valid) span: the verdict is on the trace's answer(s)
    annotator = attributes.get(sc.MRE_EVALUATION_ANNOTATOR)
    # What is kept of a verdict is bounded: a name and an annotator are identifiers, not text.
    return HumanVerdict(
        trace_id,
        str(name)[:MAX_NAME_CHARS],
        passed,
        span,
        score,
        str(annotator)[:MAX_NAME_CHARS] if annotator else None,
    )


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
