"""Drift statistics and the online monitor: false alarms at most 5% on identical distributions, and a
0.05 drop in mean faithfulness found with at least 90% power at n = 500 per side (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from mre.model import Evaluation, Interaction, Score
from mre.processor.drift import DriftMonitor, compare, mann_whitney_p

TRIALS = 400


def faithfulness_scores(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """Realistic-looking scores: most answers well supported, a tail of weak ones, clipped to [0, 1]."""
    strong = rng.beta(8, 2, size=n)
    weak = rng.beta(2, 5, size=n)
    mix = np.where(rng.random(n) < 0.85, strong, weak)
    return np.clip(mix + shift, 0.0, 1.0)


def test_identical_distributions_raise_at_most_5_percent_false_alarms() -> None:
    rng = np.random.default_rng(20261123)
    alarms = sum(
        compare(faithfulness_scores(rng, 500), faithfulness_scores(rng, 500)).degraded(alpha=0.05, min_effect=0.0)
        for _ in range(TRIALS)
    )
    assert alarms / TRIALS <= 0.05


def test_the_two_sided_test_is_calibrated_at_5_percent() -> None:
    rng = np.random.default_rng(7)
    rejections = sum(
        mann_whitney_p(faithfulness_scores(rng, 500), faithfulness_scores(rng, 500)) < 0.05 for _ in range(TRIALS)
    )
    assert 0.02 <= rejections / TRIALS <= 0.075  # about alpha, with sampling noise over 400 trials


def test_a_drop_of_005_in_mean_faithfulness_is_found_with_90_percent_power() -> None:
    rng = np.random.default_rng(11)
    found = 0
    for _ in range(TRIALS):
        baseline = faithfulness_scores(rng, 500)
        current = faithfulness_scores(rng, 500, shift=-0.05)
        result = compare(baseline, current)
        found += result.degraded(alpha=0.05, min_effect=0.0)
    assert found / TRIALS >= 0.9


def _evaluation(model: str, value: float) -> Evaluation:
    interaction = Interaction(trace_id="0" * 32, span_id="0" * 16, service="shop", model=model)
    return Evaluation(interaction, {"faithfulness": Score("faithfulness", float(value), "x")})


def _feed(monitor: DriftMonitor, model: str, values: np.ndarray) -> None:
    for value in values:
        monitor.on_evaluation(_evaluation(model, value))


def test_a_new_model_version_is_compared_with_the_previous_one() -> None:
    rng = np.random.default_rng(3)
    monitor = DriftMonitor(window=500, min_samples=100, alpha=0.01, min_effect=0.02, clock=lambda: 1000.0)
    for value in faithfulness_scores(rng, 500):
        monitor.on_evaluation(_evaluation("model-v1", value))
    for value in faithfulness_scores(rng, 300, shift=-0.1):
        monitor.on_evaluation(_evaluation("model-v2", value))
    assert monitor.versions[("shop", "faithfulness")] == ["model-v1", "model-v2"]
    assert monitor.first_seen("shop", "model-v2") == 1000.0
    state = monitor.state("shop", "model-v2", "faithfulness")
    assert state.baseline == "previous_model" and state.degraded
    assert state.comparison is not None and state.comparison.mean_difference < -0.05


def test_a_stable_model_does_not_alarm_and_too_few_samples_say_nothing() -> None:
    rng = np.random.default_rng(5)
    monitor = DriftMonitor(window=300, min_samples=100)
    for value in faithfulness_scores(rng, 50):
        monitor.on_evaluation(_evaluation("m", value))
    assert monitor.state("shop", "m", "faithfulness").comparison is None
    for value in faithfulness_scores(rng, 900):
        monitor.on_evaluation(_evaluation("m", value))
    state = monitor.state("shop", "m", "faithfulness")
    assert state.baseline == "rolling" and state.comparison is not None and not state.degraded


def test_drift_statistics_are_exported_as_metrics() -> None:
    from prometheus_client import CollectorRegistry

    from mre.exporters.prometheus import DriftCollector

    rng = np.random.default_rng(9)
    monitor = DriftMonitor(window=400, min_samples=100, clock=lambda: 42.0)
    _feed(monitor, "v1", faithfulness_scores(rng, 400))
    _feed(monitor, "v2", faithfulness_scores(rng, 200, shift=-0.15))
    registry = CollectorRegistry()
    registry.register(DriftCollector(monitor))
    labels = {"service": "shop", "model": "v2", "evaluation": "faithfulness", "baseline": "previous_model"}
    assert registry.get_sample_value("mre_drift_degraded", labels) == 1.0
    assert registry.get_sample_value("mre_drift_mean_difference", labels) < -0.1
    assert (
        registry.get_sample_value("mre_model_first_seen_timestamp_seconds", {"service": "shop", "model": "v2"}) == 42.0
    )


def test_the_gate_raises_at_most_5_percent_false_alarms_and_finds_a_005_drop_with_90_percent_power() -> None:
    from mre.processor.gate import gate

    rng = np.random.default_rng(2026)
    trials = 200
    false_alarms = sum(
        gate({"faithfulness": faithfulness_scores(rng, 500)}, {"faithfulness": faithfulness_scores(rng, 500)}, seed=t)[
            0
        ].regression
        for t in range(trials)
    )
    found = sum(
        gate(
            {"faithfulness": faithfulness_scores(rng, 500)},
            {"faithfulness": faithfulness_scores(rng, 500, shift=-0.05)},
            seed=t,
        )[0].regression
        for t in range(trials)
    )
    assert false_alarms / trials <= 0.05
    assert found / trials >= 0.9


def test_the_margin_tolerates_small_drops() -> None:
    from mre.processor.gate import gate

    rng = np.random.default_rng(1)
    (strict,) = gate({"f": faithfulness_scores(rng, 2000)}, {"f": faithfulness_scores(rng, 2000, shift=-0.05)})
    (lenient,) = gate(
        {"f": faithfulness_scores(rng, 2000)}, {"f": faithfulness_scores(rng, 2000, shift=-0.05)}, margin=0.1
    )
    assert strict.regression and not lenient.regression


def test_the_online_monitor_at_its_defaults_keeps_false_alarms_under_5_percent_and_finds_a_005_drop() -> None:
    """The monitor as `mre serve` and the embedded processor run it (window 500, at least 100 per side,
    alpha 0.01, minimum effect 0.02): a new model version with the same behaviour is rarely flagged, one
    whose mean faithfulness is 0.05 lower almost always is."""
    rng = np.random.default_rng(20261124)
    trials = 200
    flagged = {0.0: 0, -0.05: 0}
    for shift in flagged:
        for _ in range(trials):
            monitor = DriftMonitor()
            for value in faithfulness_scores(rng, 500):
                monitor.on_evaluation(_evaluation("v1", value))
            for value in faithfulness_scores(rng, 500, shift=shift):
                monitor.on_evaluation(_evaluation("v2", value))
            flagged[shift] += monitor.state("shop", "v2", "faithfulness").degraded
    assert flagged[0.0] / trials <= 0.05
    assert flagged[-0.05] / trials >= 0.9


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per score comparison the monitor runs."""
    import mre.processor.drift as drift

    calls: list[int] = []
    real = drift.compare
    monkeypatch.setattr(drift, "compare", lambda a, b: calls.append(1) or real(a, b))
    return calls


def _clocked_monitor() -> tuple[DriftMonitor, list[float]]:
    now = [1000.0]
    return DriftMonitor(window=500, min_samples=100, clock=lambda: now[0], refresh_s=10.0), now


def test_a_comparison_is_reused_until_scores_arrive_and_redone_when_either_side_changes(comparisons: list[int]) -> None:
    calls = comparisons
    rng = np.random.default_rng(5)
    monitor, now = _clocked_monitor()
    _feed(monitor, "model-v1", faithfulness_scores(rng, 300))
    _feed(monitor, "model-v2", faithfulness_scores(rng, 200, shift=-0.2))
    first = monitor.state("shop", "model-v2", "faithfulness")
    now[0] += 60
    for _ in range(5):  # scrapes with no new scores read the result, however old it is
        assert monitor.state("shop", "model-v2", "faithfulness") == first
    assert len(calls) == 1
    monitor.on_evaluation(_evaluation("model-v2", 0.1))  # its own series moved
    monitor.state("shop", "model-v2", "faithfulness")
    now[0] += 60
    monitor.on_evaluation(_evaluation("model-v1", 0.9))  # the baseline (previous version) moved
    monitor.state("shop", "model-v2", "faithfulness")
    assert len(calls) == 3


def test_under_load_a_series_is_compared_at_most_once_per_refresh_period(comparisons: list[int]) -> None:
    calls = comparisons
    rng = np.random.default_rng(6)
    monitor, now = _clocked_monitor()
    _feed(monitor, "model-v1", faithfulness_scores(rng, 300))
    _feed(monitor, "model-v2", faithfulness_scores(rng, 200))
    first = monitor.state("shop", "model-v2", "faithfulness")
    for _ in range(19):  # scores keep arriving, a scrape every half second: the result is reused
        now[0] += 0.5
        _feed(monitor, "model-v2", faithfulness_scores(rng, 20, shift=-0.4))
        assert monitor.state("shop", "model-v2", "faithfulness") is first
    assert len(calls) == 1
    now[0] += 0.5  # ten seconds since the comparison: the next scrape sees the drop
    later = monitor.state("shop", "model-v2", "faithfulness")
    assert len(calls) == 2 and later.degraded and not first.degraded
    with pytest.raises(ValueError, match="refresh_s"):
        DriftMonitor(refresh_s=-1)
