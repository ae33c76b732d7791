"""Abstention correctness: abstain exactly when the retrieved context cannot answer.

Four outcomes: ``correct_answer``, ``correct_abstention`` (value 1), ``unsupported_answer`` (answered
although nothing retrieved answers the question: a coverage failure) and ``needless_abstention``
(abstained although the context answered), value 0.
"""

from __future__ import annotations

from mre.model import Interaction, Score
from mre.processor.scorers._context import ContextUnits, best_coverage, units_of
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.text import question_terms

NAME = "abstention"
# Share of the question's key terms that one context unit must hold for the context to answer it.
ANSWERABLE_AT = 0.6

CORRECT_ANSWER = "correct_answer"
CORRECT_ABSTENTION = "correct_abstention"
UNSUPPORTED_ANSWER = "unsupported_answer"
NEEDLESS_ABSTENTION = "needless_abstention"


def answerability(question: str, units: ContextUnits) -> float:
    """The best share of the question's key terms one context unit holds (0 with no unit)."""
    return best_coverage(question_terms(question), units.widest_units())


def abstention(interaction: Interaction) -> Score | None:
    question, answer, units = interaction.question, interaction.answer, units_of(interaction)
    if question is None or answer is None or units is None:
        return None
    abstained = analysis_of(interaction).abstains
    support = answerability(question, units)
    answerable = support >= ANSWERABLE_AT
    if abstained:
        label = NEEDLESS_ABSTENTION if answerable else CORRECT_ABSTENTION
    else:
        label = CORRECT_ANSWER if answerable else UNSUPPORTED_ANSWER
    value = 1.0 if label in (CORRECT_ANSWER, CORRECT_ABSTENTION) else 0.0
    explanation = (
        f"{'abstained' if abstained else 'answered'}; the best context passage holds {support:.0%} "
        f"of the question's key terms ({'answerable' if answerable else 'not answerable'})"
    )
    return Score(NAME, value, label, explanation, {"abstained": abstained, "answerability": round(support, 3)})
