"""The faithfulness evidence model, measured the way #17 asks: leave one labelled file out, train on
the rest, and the held-out file's AUROC is at least its unsupported-word baseline's."""

from __future__ import annotations

import numpy as np
import pytest

from mre.processor import faithfulness_training as training
from mre.processor import limits
from mre.processor.scorers.faithfulness_evidence import FEATURES, overlap_evidence
from tests.test_eval import DATA

PACK = DATA / "faithfulness_dev"


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


@pytest.mark.skipif(not PACK.exists(), reason="shared/data is not beside the checkout")
def test_the_first_evidence_is_the_word_overlap_baseline_on_every_labelled_row() -> None:
    # The model starts from the baseline it must beat: its first feature is that baseline, row for row.
    for name in training.FILES:
        x, _, base = training.load(DATA / name)
        assert x.shape[1] == len(FEATURES)
        assert np.allclose(x[:, 0], -base), name


@pytest.mark.skipif(not PACK.exists(), reason="shared/data is not beside the checkout")
def test_leaving_each_file_out_the_model_is_never_below_the_word_overlap_baseline() -> None:
    data = {f: training.load(DATA / f) for f in training.FILES}
    results = training.leave_one_file_out(data)
    for name, (model_auc, base_auc) in results.items():
        assert model_auc is not None and base_auc is not None
        assert model_auc >= base_auc, name
    assert sum(results[f][0] or 0 for f in training.DEV_PACK) / len(training.DEV_PACK) >= 0.72
    assert (results["halueval_qa_dev.jsonl"][0] or 0) >= 0.92


def test_past_the_sentence_bound_words_still_count_and_the_cut_is_counted() -> None:
    filler = ("Filler sentence here. " * limits.MAX_UNITS,)
    before = limits.CUTS.snapshot()[limits.UNITS]
    unsupported, gap, _, _ = overlap_evidence("Refunds take 30 days.", (*filler, "Refunds take 30 days."))
    assert unsupported == 0.0  # the words are in the context, though past the alignment bound
    assert gap > 0.0  # but no aligned sentence holds them
    assert limits.CUTS.snapshot()[limits.UNITS] == before + 1


def test_answer_sentences_past_the_claim_bound_are_counted() -> None:
    before = limits.CUTS.snapshot()[limits.CLAIMS]
    overlap_evidence("Refunds take 30 days. " * (limits.MAX_CLAIMS + 1), ("Refunds take 30 days.",))
    assert limits.CUTS.snapshot()[limits.CLAIMS] == before + 1
