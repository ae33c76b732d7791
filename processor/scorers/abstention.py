"""Abstention correctness: abstain exactly when the retrieved context cannot answer.

Four outcomes: ``correct_answer``, ``correct_abstention`` (value 1), ``unsupported_answer`` (answered
although nothing retrieved answers the question: a coverage failure) and ``needless_abstention``
(abstained although the context answered), value 0.
"""

from __future__ import annotations

from mre.model import Interaction, Score
from mre.processor.scorers._context import best_coverage, context_units
from mre.processor.scorers.text import is_abstention, question_terms

NAME = "abstention"
# Share of the question's key terms that one context unit must hold for the context to answer it.
ANSWERABLE_AT = 0.6

CORRECT_ANSWER = "correct_answer"
CORRECT_ABSTENTION = "correct_abstention"
UNSUPPORTED_ANSWER = "unsupported_answer"
NEEDLESS_ABSTENTION = "needless_abstention"


def answerability(question: str, contexts: list[str]) -> float:
    asked = question_terms(question)
    if not asked or not contexts:
        return 0.0
    return best_coverage(asked, context_units(contexts).units)


def abstention(interaction: Interaction) -> Score | None:
    question, answer, contexts = interaction.question, interaction.answer, interaction.contexts
    if question is None or answer is None or contexts is None:
        return None
    abstained = is_abstention(answer)
    support = answerability(question, contexts)
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
