"""Input drift: the mix of questions is compared with hashed n-gram vectors and a permutation test, so a
change in what users ask is told apart from a change in how the model answers (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from mre.examples.corpus import load_corpus
from mre.model import Evaluation, Interaction, Score
from mre.processor.drift import DriftMonitor
from mre.processor.question_drift import DIMS, compare_questions, question_vector

TRIALS = 200
SHARE = 0.15  # of the questions moving to one topic (refunds: 3 of the 40 questions before)


@pytest.fixture(scope="module")
def questions() -> tuple[list[str], np.ndarray, list[int]]:
    corpus = load_corpus()
    texts = list(corpus.questions)
    vectors = np.stack([question_vector(q) for q in texts])
    refunds = [i for i, q in enumerate(texts) if "refund" in q.lower()]
    return texts, vectors, refunds


def test_a_question_becomes_a_unit_vector_of_hashed_ngrams_and_keeps_no_text() -> None:
    vector = question_vector("How many days do customers have to request a refund?")
    assert vector.shape == (DIMS,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-6
    assert np.array_equal(vector, question_vector("how many days do customers have to request a refund"))
    assert not question_vector("").any()


def test_questions_from_the_same_mix_raise_at_most_5_percent_false_alarms(questions) -> None:
    _texts, vectors, _ = questions
    rng = np.random.default_rng(2026)
    p_values = np.array(
        [
            compare_questions(
                vectors[rng.integers(0, len(vectors), 500)], vectors[rng.integers(0, len(vectors), 500)], seed=t
            ).p_value
            for t in range(TRIALS)
        ]
    )
    assert np.mean(p_values < DriftMonitor().alpha) <= 0.05  # the monitor's default significance
    assert np.mean(p_values < 0.05) <= 0.08  # the permutation test is calibrated: about alpha at 0.05 too


def test_15_percent_of_questions_moving_to_one_topic_is_found_with_90_percent_power(questions) -> None:
    _texts, vectors, refunds = questions
    rng = np.random.default_rng(11)
    found = 0
    for t in range(100):
        baseline = vectors[rng.integers(0, len(vectors), 500)]
        mixed = np.where(rng.random(500) < SHARE, rng.choice(refunds, 500), rng.integers(0, len(vectors), 500))
        found += compare_questions(baseline, vectors[mixed], seed=t).drifted(DriftMonitor().alpha)
    assert found / 100 >= 0.9


def _evaluation(model: str, question: str, faithfulness: float) -> Evaluation:
    interaction = Interaction(trace_id="0" * 32, span_id="0" * 16, service="shop", model=model, question=question)
    return Evaluation(interaction, {"faithfulness": Score("faithfulness", faithfulness, "x")})


def _feed(
    monitor: DriftMonitor, model: str, pool: list[str], n: int, rng: np.random.Generator, shift: float = 0
) -> None:
    for _ in range(n):
        monitor.on_evaluation(_evaluation(model, pool[rng.integers(len(pool))], float(rng.beta(8, 2)) + shift))


def test_a_worse_model_on_the_same_questions_is_a_behaviour_change_not_an_input_change(questions) -> None:
    texts, _vectors, _ = questions
    rng = np.random.default_rng(3)
    monitor = DriftMonitor(window=300, min_samples=100)
    _feed(monitor, "v1", texts, 300, rng)
    _feed(monitor, "v2", texts, 200, rng, shift=-0.15)
    assert monitor.state("shop", "v2", "faithfulness").degraded
    questions_now = monitor.question_state("shop", "v2")
    assert questions_now.baseline == "previous_model" and questions_now.comparison is not None
    assert not questions_now.drifted


def test_a_new_mix_of_questions_on_the_same_model_is_an_input_change(questions) -> None:
    texts, _vectors, refunds = questions
    rng = np.random.default_rng(5)
    monitor = DriftMonitor(window=300, min_samples=100)
    _feed(monitor, "v1", texts, 300, rng)
    _feed(monitor, "v1", [texts[i] for i in refunds], 300, rng)
    state = monitor.question_state("shop", "v1")
    assert state.baseline == "rolling" and state.drifted
    assert state.comparison is not None and state.comparison.distance > 0.1
    assert not monitor.state("shop", "v1", "faithfulness").degraded


def test_question_drift_is_exported_as_metrics_and_the_monitor_is_bounded(questions) -> None:
    from prometheus_client import CollectorRegistry

    from mre.exporters.prometheus import DriftCollector

    texts, _vectors, refunds = questions
    rng = np.random.default_rng(9)
    monitor = DriftMonitor(window=200, min_samples=100, max_series=2, max_question_series=1)
    for _ in range(200):
        monitor.on_evaluation(_evaluation("v1", texts[rng.integers(len(texts))], 0.9))
    for _ in range(200):
        monitor.on_evaluation(_evaluation("v1", texts[rng.choice(refunds)], 0.9))
    for model in ("v2", "v3", "v4"):  # beyond the bounds (2 score series, 1 question series): counted, not kept
        monitor.on_evaluation(_evaluation(model, texts[0], 0.9))
    registry = CollectorRegistry()
    registry.register(DriftCollector(monitor))
    labels = {"service": "shop", "model": "v1", "baseline": "rolling"}
    assert registry.get_sample_value("mre_question_drift_detected", labels) == 1.0
    assert registry.get_sample_value("mre_question_drift_p_value", labels) < 0.01
    assert registry.get_sample_value("mre_drift_dropped_total") == 5.0


def test_the_permutation_test_is_rerun_only_after_a_tenth_of_a_window_of_new_questions(questions) -> None:
    texts, _vectors, _ = questions
    rng = np.random.default_rng(1)
    monitor = DriftMonitor(window=200, min_samples=100, refresh_s=0.0)  # the count rule alone
    for _ in range(400):
        monitor.on_evaluation(_evaluation("v1", texts[rng.integers(len(texts))], 0.9))
    first = monitor.question_state("shop", "v1")
    for _ in range(19):
        monitor.on_evaluation(_evaluation("v1", texts[rng.integers(len(texts))], 0.9))
    assert monitor.question_state("shop", "v1") is first  # scrapes in between reuse it
    monitor.on_evaluation(_evaluation("v1", texts[rng.integers(len(texts))], 0.9))
    assert monitor.question_state("shop", "v1") is not first


def test_under_load_the_permutation_test_is_rerun_at_most_once_per_refresh_period(questions) -> None:
    texts, _vectors, _ = questions
    rng = np.random.default_rng(2)
    now = [0.0]
    monitor = DriftMonitor(window=200, min_samples=100, clock=lambda: now[0], refresh_s=10.0)
    for _ in range(400):
        monitor.on_evaluation(_evaluation("v1", texts[rng.integers(len(texts))], 0.9))
    first = monitor.question_state("shop", "v1")
    for _ in range(3):  # a whole window of new questions within the period: still the last result
        now[0] += 3
        for _ in range(70):
            monitor.on_evaluation(_evaluation("v1", texts[rng.integers(len(texts))], 0.9))
        assert monitor.question_state("shop", "v1") is first
    now[0] += 1
    assert monitor.question_state("shop", "v1") is not first
