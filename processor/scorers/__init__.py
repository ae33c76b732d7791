"""Behavioural scorers: functions ``Interaction -> Score | None``.

``None`` means the scorer could not judge (what it needs was not captured, or it does not apply);
it is never a zero. :data:`DEFAULT_SCORERS` is the offline set that needs no model (pure functions);
:func:`default_scorers` adds the stateful ones (consistency across repeats of a question).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from mre.model import Interaction, Score
from mre.processor.coverage import (
    NEEDS_ACL,
    NEEDS_ANSWER,
    NEEDS_CONTEXT,
    NEEDS_DOCUMENTS,
    NEEDS_FRESHNESS,
    NEEDS_INPUT_GUARDRAIL,
    NEEDS_PRINCIPAL,
    NEEDS_QUESTION,
)
from mre.processor.coverage import SCORE_NAME as SCORING_COVERAGE
from mre.processor.scorers.abstention import abstention
from mre.processor.scorers.calibration import confidence_calibration
from mre.processor.scorers.consistency import ConsistencyScorer
from mre.processor.scorers.faithfulness import faithfulness
from mre.processor.scorers.provenance import citations, conflicting_sources, freshness, permission_leak
from mre.processor.scorers.relevance import answer_relevance
from mre.processor.scorers.retrieval_quality import (
    chunk_boundary,
    context_overload,
    context_precision,
    lost_in_the_middle,
)
from mre.processor.scorers.safety import input_safety, safety

Scorer = Callable[[Interaction], Score | None]

DEFAULT_SCORERS: Mapping[str, Scorer] = MappingProxyType(
    {
        "faithfulness": faithfulness,
        "answer_relevance": answer_relevance,
        "abstention": abstention,
        "context_precision": context_precision,
        "lost_in_the_middle": lost_in_the_middle,
        "safety": safety,
        "input_safety": input_safety,
        "citations": citations,
        "freshness": freshness,
        "conflicting_sources": conflicting_sources,
        "permission_leak": permission_leak,
        "chunk_boundary": chunk_boundary,
        "context_overload": context_overload,
        "confidence_calibration": confidence_calibration,
    }
)


# What each default scorer reads (``mre.processor.coverage``): when one returns no score, the first of
# these the interaction lacks is the reason counted in mre_scorer_skipped_total.
NEEDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "faithfulness": (NEEDS_ANSWER, NEEDS_CONTEXT),
        "answer_relevance": (NEEDS_QUESTION, NEEDS_ANSWER),
        "abstention": (NEEDS_QUESTION, NEEDS_ANSWER, NEEDS_CONTEXT),
        "context_precision": (NEEDS_QUESTION, NEEDS_CONTEXT),
        "lost_in_the_middle": (NEEDS_ANSWER, NEEDS_CONTEXT),
        "safety": (NEEDS_ANSWER,),
        "input_safety": (NEEDS_INPUT_GUARDRAIL,),
        "citations": (NEEDS_ANSWER, NEEDS_DOCUMENTS),
        "freshness": (NEEDS_DOCUMENTS, NEEDS_FRESHNESS),
        "conflicting_sources": (NEEDS_ANSWER, NEEDS_CONTEXT),
        "permission_leak": (NEEDS_PRINCIPAL, NEEDS_DOCUMENTS, NEEDS_ACL),
        "chunk_boundary": (NEEDS_ANSWER, NEEDS_CONTEXT),
        "context_overload": (NEEDS_DOCUMENTS,),
        "confidence_calibration": (NEEDS_ANSWER, NEEDS_CONTEXT),
        "consistency": (NEEDS_QUESTION, NEEDS_ANSWER),
    }
)


def default_scorers() -> dict[str, Scorer]:
    """The default set with fresh state for the stateful scorers (one per pipeline)."""
    return {**DEFAULT_SCORERS, "consistency": ConsistencyScorer()}


# Every evaluation name an SLO file may use: the scorers here and the coverage score of each answer.
EVALUATIONS: frozenset[str] = frozenset(NEEDS) | {SCORING_COVERAGE}

__all__ = ["DEFAULT_SCORERS", "EVALUATIONS", "NEEDS", "ConsistencyScorer", "Scorer", "default_scorers"]
