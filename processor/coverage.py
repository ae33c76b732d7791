"""Scoring coverage: which answers could not be fully scored, and why. Never silent.

An answer is fully scored when its text, its question and its context were captured. One that is
not gets a reason (:func:`unscored_reason`), is counted in ``mre_interactions_unscored_total
{service,reason}``, fails the scoring-coverage SLO (the ``scoring_coverage`` score is 0) and never
counts as a good event of an SLO whose score it could not get. Each scorer that returns no score is
counted in ``mre_scorer_skipped_total{evaluation,reason}`` with the first input it lacked. The first
time a (service, reason) is seen, a WARNING says what to change.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from mre import semconv as sc
from mre.model import Interaction, Score
from mre.processor.labels import BoundedLabel

logger = logging.getLogger("mre.processor")

SCORE_NAME: Final = "scoring_coverage"
SCORED: Final = "scored"

CONTENT_CAPTURE_OFF: Final = "content_capture_off"
NO_OUTPUT_CAPTURED: Final = "no_output_captured"
EMPTY_ANSWER: Final = "empty_answer"
NO_QUESTION: Final = "no_question"
NO_CONTEXT: Final = "no_context"
REASONS: Final = (CONTENT_CAPTURE_OFF, NO_OUTPUT_CAPTURED, EMPTY_ANSWER, NO_QUESTION, NO_CONTEXT)

# What a scorer reads, and the reason it is skipped when that is missing.
NEEDS_ANSWER: Final = "answer"
NEEDS_QUESTION: Final = "question"
NEEDS_CONTEXT: Final = "context"
NEEDS_DOCUMENTS: Final = "documents"
NEEDS_PRINCIPAL: Final = "principal"
NEEDS_ACL: Final = "acl"
NEEDS_FRESHNESS: Final = "freshness_metadata"
NEEDS_INPUT_GUARDRAIL: Final = "input_guardrail"  # a guardrail that checked the question
NOT_APPLICABLE: Final = "not_applicable"  # had what it reads, but does not apply (no citation, an abstention)

_CONTENT_FIX = {
    "otel": "set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true (SPAN_ONLY or SPAN_AND_EVENT) in the app",
    "openllmetry": "set TRACELOOP_TRACE_CONTENT=true in the app",
    "openinference": "unset OPENINFERENCE_HIDE_INPUTS / OPENINFERENCE_HIDE_OUTPUTS (and HIDE_*_MESSAGES) in the app",
    "openlit": "call openlit.init(capture_message_content=True) in the app",
}
FIXES: Final[Mapping[str, str]] = {
    NO_OUTPUT_CAPTURED: (
        "the answer's output was not recorded (a stream that was never read to its end, a raw response "
        "that was never parsed, or an instrumentation that does not see this call shape)"
    ),
    EMPTY_ANSWER: "the model returned no text (a refusal, a filtered or a truncated response)",
    NO_QUESTION: "no question was found: record the retrieval query or keep the question in the last user message",
    NO_CONTEXT: (
        "no context was captured: instrument the retriever (mre's instrumentors or the manual "
        "mre.instrumentation.retrieval API), or put the retrieved text in the prompt"
    ),
}


def unscored_reason(interaction: Interaction) -> str | None:
    """Why the answer cannot be fully scored, or ``None`` when it can."""
    if interaction.answer is None:
        return CONTENT_CAPTURE_OFF if interaction.input_messages is None else NO_OUTPUT_CAPTURED
    if not interaction.answer.strip():
        return EMPTY_ANSWER
    if not interaction.question:
        return NO_QUESTION
    if interaction.contexts is None:
        return NO_CONTEXT
    return None


def coverage_score(reason: str | None) -> Score:
    if reason is None:
        return Score(SCORE_NAME, 1.0, SCORED, "answer, question and context captured: every scorer could judge")
    return Score(SCORE_NAME, 0.0, reason, fix_for(reason))


def fix_for(reason: str, dialect: str = "otel") -> str:
    if reason == CONTENT_CAPTURE_OFF:
        return f"content capture is off: {_CONTENT_FIX.get(dialect, _CONTENT_FIX['otel'])}"
    return FIXES.get(reason, reason)


_FRESHNESS_KEYS = (sc.META_UPDATED_AT, sc.META_SUPERSEDED_BY, sc.META_STATUS, sc.META_VERSION)
_VERSIONED_ID = re.compile(r"[-_ .]v\d+$", re.I)  # an id that names its version: a freshness signal too
_CHECKS: Mapping[str, tuple[str, Callable[[Interaction], bool]]] = {
    NEEDS_ANSWER: ("no_answer", lambda i: bool(i.answer and i.answer.strip())),
    NEEDS_QUESTION: ("no_question", lambda i: bool(i.question)),
    NEEDS_CONTEXT: ("no_context", lambda i: i.contexts is not None),
    NEEDS_DOCUMENTS: ("no_documents", lambda i: i.documents is not None),
    NEEDS_PRINCIPAL: ("no_principal", lambda i: bool(i.principal)),
    NEEDS_ACL: ("no_acl_metadata", lambda i: any(sc.META_ACL in d.metadata for d in i.documents or ())),
    NEEDS_INPUT_GUARDRAIL: ("no_input_guardrail", lambda i: any(g.target == "input" for g in i.guardrails)),
    NEEDS_FRESHNESS: (
        "no_freshness_metadata",
        lambda i: (
            any(k in d.metadata for d in i.documents or () for k in _FRESHNESS_KEYS)
            or any(_VERSIONED_ID.search(d.id) for d in i.documents or ())
        ),
    ),
}
SKIP_REASONS: Final = (*(reason for reason, _ in _CHECKS.values()), NOT_APPLICABLE)


def skip_reason(interaction: Interaction, needs: Sequence[str]) -> str:
    """Why a scorer that reads ``needs`` gave no score: the first input it lacked, else not applicable."""
    for need in needs:
        reason, present = _CHECKS[need]
        if not present(interaction):
            return reason
    return NOT_APPLICABLE


class CoverageLog:
    """One WARNING per (service, reason), naming the fix. Services are the bounded metric labels (the
    first 50, then ``other``), so a flood of new service names logs a handful of lines, not one each."""

    def __init__(self, max_services: int = 50) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._service = BoundedLabel(max_services)
        self._max = (max_services + 1) * len(REASONS)
        self._lock = threading.Lock()

    def note(self, interaction: Interaction, reason: str) -> None:
        key = (self._service(interaction.service), reason)
        with self._lock:
            if key in self._seen or len(self._seen) >= self._max:
                return
            self._seen.add(key)
        logger.warning(
            "answers of service %r are not fully scored (%s): %s [counted in mre_interactions_unscored_total]",
            key[0],
            reason,
            fix_for(reason, interaction.dialect),
        )
