"""Behavioural scorers: pure functions ``Interaction -> Score | None``.

``None`` means the scorer could not judge (what it needs was not captured, or it does not apply);
it is never a zero. :data:`DEFAULT_SCORERS` is the offline set that needs no model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from mre.processor.scorers.abstention import abstention
from mre.processor.scorers.faithfulness import faithfulness
from mre.processor.scorers.relevance import answer_relevance

from mre.model import Interaction, Score

Scorer = Callable[[Interaction], Score | None]

DEFAULT_SCORERS: Mapping[str, Scorer] = MappingProxyType(
    {
        "faithfulness": faithfulness,
        "answer_relevance": answer_relevance,
        "abstention": abstention,
    }
)

__all__ = ["DEFAULT_SCORERS", "Scorer", "abstention", "answer_relevance", "faithfulness"]
