"""Answer relevance: does the answer address what was asked?

Offline and lexical: the share of the question's key terms (stemmed, question words removed) that
the answer takes up. An abstention is not scored here (the abstention scorer judges it).
"""

from __future__ import annotations

from mre.model import Interaction, Score
from mre.processor.scorers._context import coverage
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.text import content_terms, question_terms

NAME = "answer_relevance"
RELEVANT_AT = 0.5


def answer_relevance(interaction: Interaction) -> Score | None:
    question, answer = interaction.question, interaction.answer
    if question is None or answer is None or analysis_of(interaction).abstains:
        return None
    asked = question_terms(question)
    if not asked:
        return None
    answered = content_terms(answer)
    value = coverage(asked, answered)
    missing = sorted(asked - answered)
    label = "relevant" if value >= RELEVANT_AT else "not_relevant"
    explanation = f"answer covers {value:.0%} of the question's key terms"
    if missing:
        explanation += f"; missing: {', '.join(missing[:6])}"
    return Score(NAME, value, label, explanation, {"missing_terms": missing})
