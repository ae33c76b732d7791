"""The sink's counters as collectors expose what prometheus_client's Counter exposes for the same
increments, and the sink's plans of children change nothing a scrape shows, overflow counts included."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from mre.exporters import conventions as c
from mre.exporters.counter_family import CounterFamily
from mre.exporters.prometheus import PrometheusSink, _Plan
from mre.model import Evaluation, Interaction, Score, SLOOutcome


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return sorted(
        ((s.name, s.labels, s.value) for f in registry.collect() for s in f.samples if not s.name.endswith("_created")),
        key=repr,
    )


def test_counts_are_counters_counts() -> None:
    rng = random.Random(3)
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = CounterFamily("mre_slo_events", "events", ("service", "outcome"), ours_registry)
    theirs = Counter("mre_slo_events", "events", ("service", "outcome"), registry=theirs_registry)
    for _ in range(3_000):
        labels = (rng.choice(["a", "b", "c"]), rng.choice(["good", "bad"]))
        amount = rng.choice([1.0, 1.0, 0.0, 2.5])
        ours.labels(*labels).inc(amount)
        theirs.labels(*labels).inc(amount)
    assert _samples(ours_registry) == _samples(theirs_registry)
    assert b'mre_slo_events_total{outcome="good",service="a"}' in generate_latest(ours_registry)


def test_a_name_ending_in_total_is_exposed_once_as_counter_does() -> None:
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    CounterFamily("x_total", "x", ("k",), ours_registry).labels("v").inc()
    Counter("x_total", "x", ("k",), registry=theirs_registry).labels("v").inc()
    assert _samples(ours_registry) == _samples(theirs_registry) == [("x_total", {"k": "v"}, 1.0)]


def test_a_second_family_of_the_same_name_a_wrong_label_count_and_a_negative_increment_are_refused() -> None:
    registry = CollectorRegistry()
    family = CounterFamily("mre_interactions", "answers", ("service", "model"), registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("mre_interactions", "again", ("service", "model"), registry=registry)
    with pytest.raises(ValueError, match="expected 2 label values"):
        family.labels("only-one")
    with pytest.raises(ValueError, match="non-negative"):
        family.labels("s", "m").inc(-1)


class _NoPlans(PrometheusSink):
    """The sink as it was before plans: every recording looks its children up."""

    def _plan(self, service: str, model: str, route: str) -> _Plan:
        return _Plan()


def _stream(n: int) -> list[Evaluation]:
    rng = random.Random(11)
    out = []
    for i in range(n):
        interaction = Interaction(
            f"{i + 1:032x}",
            "2" * 16,
            service=f"svc{rng.randrange(9)}",
            model=f"model{rng.randrange(7)}",
            route=f"route{rng.randrange(5)}",
        )
        names = rng.sample(["faithfulness", "relevance", "safety", "abstention", "provenance"], 3)
        scores = {name: Score(name, rng.random(), "scored") for name in names}
        outcomes = [SLOOutcome(slo, rng.random() < 0.8) for slo in rng.sample(["faithfulness", "safety", "q"], 2)]
        good = all(o.good for o in outcomes)
        out.append(Evaluation(interaction, scores, outcomes, 0.001, None if good else "unsupported_claim"))
    return out


@pytest.mark.parametrize("max_plans", [4_096, 3])
def test_plans_of_children_change_nothing_a_scrape_shows_under_tight_series_bounds(max_plans: int) -> None:
    bounds = {c.METRIC_SLO_EVENTS: 40, c.METRIC_EVALUATION_SCORE: 30, c.METRIC_INTERACTIONS: 12}
    planned, plain = CollectorRegistry(), CollectorRegistry()
    sinks = [PrometheusSink(planned, max_series=bounds, max_plans=max_plans), _NoPlans(plain, max_series=bounds)]
    for evaluation in _stream(2_000):
        for sink in sinks:
            sink.on_evaluation(evaluation)
    samples = _samples(planned)
    assert samples == _samples(plain)
    overflow = {s[1]["metric"]: s[2] for s in samples if s[0] == f"{c.METRIC_SERIES_OVERFLOW}_total"}
    assert overflow[c.METRIC_SLO_EVENTS] > 0 and overflow[c.METRIC_EVALUATION_SCORE] > 0  # the bounds were hit
