"""Behavioural scorers: functions ``Interaction -> Score | None``.

``None`` means the scorer could not judge (what it needs was not captured, or it does not apply);
it is never a zero. :data:`DEFAULT_SCORERS` is the offline set that needs no model (pure functions);
:func:`default_scorers` adds the stateful ones (consistency across repeats of a question).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from mre.model import Interaction, Score
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
from mre.processor.scorers.safety import safety

Scorer = Callable[[Interaction], Score | None]

DEFAULT_SCORERS: Mapping[str, Scorer] = MappingProxyType(
    {
        "faithfulness": faithfulness,
        "answer_relevance": answer_relevance,
        "abstention": abstention,
        "context_precision": context_precision,
        "lost_in_the_middle": lost_in_the_middle,
        "safety": safety,
        "citations": citations,
        "freshness": freshness,
        "conflicting_sources": conflicting_sources,
        "permission_leak": permission_leak,
        "chunk_boundary": chunk_boundary,
        "context_overload": context_overload,
        "confidence_calibration": confidence_calibration,
    }
)


def default_scorers() -> dict[str, Scorer]:
    """The default set with fresh state for the stateful scorers (one per pipeline)."""
    return {**DEFAULT_SCORERS, "consistency": ConsistencyScorer()}


__all__ = ["DEFAULT_SCORERS", "ConsistencyScorer", "Scorer", "default_scorers"]
