"""The faithfulness evidence model, measured the way #17 asks: leave one labelled file out, train on
the rest, and the held-out file's AUROC is at least its unsupported-word baseline's."""

from __future__ import annotations

import numpy as np
import pytest

from mre.processor import faithfulness_training as training
from mre.processor import limits
from mre.processor.offline import evaluate, read_examples
from mre.processor.scorers import faithfulness
from mre.processor.scorers._context import sentence_index
from mre.processor.scorers.faithfulness_evidence import FEATURES
from mre.processor.scorers.faithfulness_evidence import overlap_evidence as evidence_against_index
from mre.processor.scorers.faithfulness_model import shipped_model
from tests.test_eval import DATA

PACK = DATA / "faithfulness_dev"


def overlap_evidence(answer: str, contexts: tuple[str, ...]) -> tuple[float, float, float, float]:
    return evidence_against_index(answer, sentence_index(contexts))


def test_an_answer_the_context_bears_out_has_no_evidence_against_it() -> None:
    context = ("Refunds are issued within 30 days. Gift cards are not refundable.",)
    assert overlap_evidence("Refunds are issued within 30 days.", context) == (0.0, 0.0, 0.0, 0.0)


def test_invented_words_numbers_and_negation_each_raise_their_evidence() -> None:
    context = ("Refunds are issued within 30 days of purchase.",)
    unsupported, gap, numbers, negation = overlap_evidence(
        "Refunds are never issued after 45 days for gadgets.", context
    )
    assert unsupported > 0.3 and gap > 0.3
    assert numbers == pytest.approx(1 / 3)
    assert negation == 1.0


@pytest.mark.parametrize("answer", ["You don't need a receipt.", "You didn’t need a receipt.", "You dont need one."])
def test_a_contracted_negation_the_context_never_makes_is_evidence_against_the_answer(answer: str) -> None:
    assert overlap_evidence(answer, ("You need a receipt for every return.",))[3] == 1.0
    # A context that contracts its own negation negates too: the answer's negation is not new.
    assert overlap_evidence(answer, ("You don't need a receipt for gift returns.",))[3] == 0.0


needs_data = pytest.mark.skipif(not PACK.exists(), reason="shared/data is not beside the checkout")


@pytest.fixture(scope="module")
def data() -> dict[str, training.Labelled]:
    return {f: training.load(DATA / f) for f in training.FILES}


@pytest.fixture(scope="module")
def held_out(data: dict[str, training.Labelled]) -> dict[str, training.HeldOut]:
    return training.leave_one_file_out(data)


@needs_data
def test_the_first_evidence_is_the_word_overlap_baseline_but_for_citations_and_lead_ins(
    data: dict[str, training.Labelled],
) -> None:
    # The model starts from the baseline it must beat: its first feature is that baseline, row for row,
    # except where citation markers ("[3]", "(see ...)") or lead-ins ("According to the policy, ...") are
    # set aside, in the answer or the source.
    for name, d in data.items():
        assert d.x.shape[1] == len(FEATURES)
        differs = ~np.isclose(d.x[:, 0], -d.baseline)
        assert differs.mean() < 0.05, name


@needs_data
def test_leaving_each_file_out_the_model_is_never_below_the_word_overlap_baseline(
    held_out: dict[str, training.HeldOut],
) -> None:
    for name, h in held_out.items():
        assert h.auroc is not None and h.baseline_auroc is not None
        assert h.auroc >= h.baseline_auroc, name
    assert sum(held_out[f].auroc or 0 for f in training.DEV_PACK) / len(training.DEV_PACK) >= 0.72
    assert (held_out["halueval_qa_dev.jsonl"].auroc or 0) >= 0.92


@needs_data
def test_the_committed_coefficients_are_what_the_training_command_fits(data: dict[str, training.Labelled]) -> None:
    # The scorer reads faithfulness_model.json; `python -m mre.processor.faithfulness_training --write`
    # writes it. They must agree, so the shipped value is reproducible from shared/data.
    fitted = training.train(list(data.values()), training.FILES)
    shipped = shipped_model()
    assert fitted.features == shipped.features and fitted.trained_on == shipped.trained_on
    numbers = lambda m: (  # noqa: E731
        *m.mean,
        *m.scale,
        *m.weights,
        m.intercept,
        m.calibration_slope,
        m.calibration_offset,
        m.contradiction_factor,
    )
    assert numbers(fitted) == pytest.approx(numbers(shipped), abs=1e-9)
    assert all(w <= 0 for w in shipped.weights)  # evidence against an answer never raises its estimate


@needs_data
def test_the_value_reads_as_a_probability_on_the_dev_pack(
    data: dict[str, training.Labelled], held_out: dict[str, training.HeldOut]
) -> None:
    y = np.concatenate([data[f].y for f in training.DEV_PACK])
    fitted = np.concatenate([training.predict(shipped_model(), data[f]) for f in training.DEV_PACK])
    assert training.expected_calibration_error(fitted, y) <= 0.1
    # Each file predicted by a model that never saw it: a looser bar, the base rates differ by file.
    lofo = np.concatenate([held_out[f].predictions for f in training.DEV_PACK])
    assert training.expected_calibration_error(lofo, y) <= 0.15


@needs_data
def test_on_halueval_the_scorer_ranks_answers_of_the_same_length() -> None:
    # HaluEval's faithful answers are shorter: length alone ranks them (AUROC 0.93). Compared only
    # against answers as long as themselves, length says nothing and the scorer still ranks.
    with (DATA / "halueval_qa_dev.jsonl").open(encoding="utf-8") as fh:
        examples, _ = read_examples(fh)
    report = evaluate(examples, {"faithfulness": faithfulness})
    assert report.length_matched_pairs > 1000
    assert (report.baselines_length_matched["answer_length"] or 0) < 0.6
    assert (report.scorers["faithfulness"].length_matched_auroc or 0) >= 0.92


def test_past_the_sentence_bound_words_still_count_and_the_cut_is_counted() -> None:
    from mre.model import Document, Interaction, Retrieval

    contexts = ("Filler sentence here. " * limits.MAX_UNITS, "Refunds take 30 days.")
    index = sentence_index(contexts)
    assert index.cut
    unsupported, gap, _, _ = evidence_against_index("Refunds take 30 days.", index)
    assert unsupported == 0.0  # the words are in the context, though past the alignment bound
    assert gap > 0.0  # but no aligned sentence holds them
    # The answer's analysis counts the cut, once.
    docs = tuple(Document(f"d{i}", text) for i, text in enumerate(contexts))
    answer = Interaction(
        "0" * 32, "0" * 16, answer="Refunds take 30 days.", retrievals=(Retrieval("1" * 16, documents=docs),)
    )
    before = limits.CUTS.snapshot()[limits.UNITS]
    faithfulness(answer)
    assert limits.CUTS.snapshot()[limits.UNITS] == before + 1


def test_answer_sentences_past_the_claim_bound_are_counted() -> None:
    before = limits.CUTS.snapshot()[limits.CLAIMS]
    overlap_evidence("Refunds take 30 days. " * (limits.MAX_CLAIMS + 1), ("Refunds take 30 days.",))
    assert limits.CUTS.snapshot()[limits.CLAIMS] == before + 1
