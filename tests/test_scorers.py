"""The offline scorers on the failure stories that motivate the product."""

from __future__ import annotations

import pytest

from mre.model import Document, Interaction, Retrieval
from mre.processor.scorers import abstention, answer_relevance, faithfulness
from mre.processor.scorers.text import is_abstention, quantities, split_sentences
from tests.helpers import BORNE_OUT, FAITHFULNESS_THRESHOLD, interaction

IBUPROFEN = (
    "The usual adult dose of ibuprofen is 400 mg every 6 hours with food. Adults should not take more than "
    "1,200 mg of ibuprofen per day without medical supervision. For patients with severe kidney disease, a dose "
    "of 200 mg is contraindicated."
)
REFUNDS = (
    "Customers may request a refund within 30 days of delivery, except for customized items. Refunds are paid "
    "to the original payment method within 5 business days."
)


class TestFaithfulness:
    def test_an_answer_copied_from_the_context_is_fully_supported(self) -> None:
        score = faithfulness(
            interaction(
                "Per the policy, refunds are paid to the original payment method within 5 business days. [doc-0]",
                [REFUNDS],
            )
        )
        assert score is not None and score.value == pytest.approx(BORNE_OUT) and score.label == "supported"

    def test_an_invented_number_is_unsupported_and_named(self) -> None:
        score = faithfulness(
            interaction("Refunds are paid to the original payment method within 7 business days.", [REFUNDS])
        )
        assert score is not None and score.value < FAITHFULNESS_THRESHOLD
        (finding,) = score.details["unsupported"]
        assert finding["reason"] == "number" and "7 day" in finding["detail"]

    def test_a_dose_copied_from_the_contraindicated_case_is_unsupported(self) -> None:
        score = faithfulness(
            interaction("For patients with severe kidney disease, a dose of 200 mg is recommended.", [IBUPROFEN])
        )
        assert score is not None and score.value < FAITHFULNESS_THRESHOLD and score.details["contradicted"]
        assert score.details["unsupported"][0]["reason"] == "carve_out"
        assert "contraindicated" in score.explanation

    def test_a_dropped_carve_out_is_unsupported(self) -> None:
        score = faithfulness(interaction("Customers may request a refund within 30 days of delivery.", [REFUNDS]))
        assert score is not None and score.value < FAITHFULNESS_THRESHOLD and score.details["contradicted"]
        assert score.details["unsupported"][0]["reason"] == "carve_out"
        assert "except" in score.details["unsupported"][0]["detail"]

    def test_an_added_negation_is_unsupported(self) -> None:
        score = faithfulness(
            interaction("Refunds are not paid to the original payment method within 5 business days.", [REFUNDS])
        )
        assert score is not None and score.details["unsupported"][0]["reason"] == "negation"

    def test_an_unsupported_sentence_lowers_the_share_and_is_quoted(self) -> None:
        score = faithfulness(
            interaction(
                "Refunds are paid to the original payment method within 5 business days. "
                "Managers can approve exceptions to this rule verbally.",
                [REFUNDS],
            )
        )
        supported = faithfulness(
            interaction("Refunds are paid to the original payment method within 5 business days.", [REFUNDS])
        )
        assert score is not None and supported is not None
        assert 0.0 < score.value < supported.value and score.label == "partially_supported"
        assert "Managers can approve exceptions" in score.explanation

    def test_a_number_from_another_document_does_not_support_the_claim(self) -> None:
        old = "Customers may request a refund within 14 days of delivery."
        score = faithfulness(
            interaction(
                "Customers may request a refund within 14 days of delivery, except for customized items.",
                [REFUNDS, old],
            )
        )
        # 14 days is in the old version, the carve-out in the new one: stitched, not supported by either.
        assert score is not None and score.value < FAITHFULNESS_THRESHOLD and score.details["contradicted"]

    @pytest.mark.parametrize(
        ("answer", "contexts"),
        [
            (None, [REFUNDS]),
            ("Refunds take 5 days.", None),
            ("I don't know based on the documents.", [REFUNDS]),
        ],
        ids=["answer not captured", "context not captured", "abstention claims nothing"],
    )
    def test_absent_inputs_give_no_score_not_a_zero(self, answer: str | None, contexts: list[str] | None) -> None:
        assert faithfulness(interaction(answer, contexts)) is None

    def test_documents_retrieved_without_captured_text_are_not_captured(self) -> None:
        retrieval = Retrieval(span_id="0" * 16, documents=[Document("d1")])
        bare = Interaction(trace_id="1" * 32, span_id="2" * 16, answer="Refunds take 5 days.", retrievals=(retrieval,))
        assert faithfulness(bare) is None


class TestAbstention:
    Q = "How many days do customers have to request a refund?"

    def test_answering_an_answerable_question_is_correct(self) -> None:
        score = abstention(interaction("Customers have 30 days, except for customized items.", [REFUNDS], self.Q))
        assert score is not None and (score.label, score.value) == ("correct_answer", 1.0)

    def test_abstaining_when_the_context_answers_is_needless(self) -> None:
        score = abstention(
            interaction("I'm sorry, but the documents provided do not contain that information.", [REFUNDS], self.Q)
        )
        assert score is not None and (score.label, score.value) == ("needless_abstention", 0.0)

    def test_answering_without_relevant_context_is_unsupported(self) -> None:
        score = abstention(
            interaction("The dress code is business casual.", [REFUNDS], "What is the dress code for client meetings?")
        )
        assert score is not None and (score.label, score.value) == ("unsupported_answer", 0.0)

    def test_abstaining_without_relevant_context_is_correct(self) -> None:
        score = abstention(interaction("I don't know.", [REFUNDS], "What is the dress code for client meetings?"))
        assert score is not None and score.label == "correct_abstention"

    def test_an_empty_retrieval_cannot_answer(self) -> None:
        score = abstention(interaction("Refunds take 30 days.", [], self.Q))
        assert score is not None and score.label == "unsupported_answer"

    def test_a_factual_negative_answer_is_not_an_abstention(self) -> None:
        assert not is_abstention("The warranty does not cover accidental damage or water damage.")
        assert is_abstention("The provided documents do not cover this.")


class TestAnswerRelevance:
    def test_an_answer_on_topic_is_relevant(self) -> None:
        score = answer_relevance(
            interaction(
                "Customers may request a refund within 30 days.",
                [],
                "How many days do customers have to request a refund?",
            )
        )
        assert score is not None and score.label == "relevant" and score.value == 1.0

    def test_an_answer_about_something_else_is_not_relevant(self) -> None:
        score = answer_relevance(
            interaction(
                "Hotel costs are reimbursed up to $220 per night.",
                [],
                "How many days do customers have to request a refund?",
            )
        )
        assert score is not None and score.label == "not_relevant" and score.value == 0.0
        assert "refund" in score.explanation

    def test_no_question_captured_gives_no_score(self) -> None:
        assert answer_relevance(interaction("Anything.", [], None)) is None


def test_quantities_keep_value_and_unit() -> None:
    found = {(q.value, q.unit) for q in quantities("$1,200 within 30 business days, 2.5 mg, 15% or twelve weeks")}
    assert found == {(1200.0, "$"), (30.0, "day"), (2.5, "mg"), (15.0, "%"), (12.0, "week")}


def test_sentences_keep_decimals_and_abbreviations_together() -> None:
    assert split_sentences("Take 2.5 mg, e.g. with food. Then rest.") == [
        "Take 2.5 mg, e.g. with food.",
        "Then rest.",
    ]
