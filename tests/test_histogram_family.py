"""The histogram collector (scores, scoring time) exposes what prometheus_client's Histogram exposes for the same
observations: buckets, count, sum and each bucket's newest exemplar."""

from __future__ import annotations

import math
import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from mre.exporters.histogram_family import HistogramFamily
from mre.exporters.prometheus import SCORE_BUCKETS

LABELS = ("service", "model", "evaluation")


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float, object]]:
    out = []
    for family in registry.collect():
        for s in family.samples:
            if s.name.endswith("_created"):
                continue  # Histogram's creation time: not exposed by the collector (nothing reads it)
            exemplar = (s.exemplar.labels, s.exemplar.value) if s.exemplar else None
            out.append((s.name, s.labels, round(s.value, 9), exemplar))
    return sorted(out, key=repr)


def test_buckets_count_sum_and_exemplars_are_histograms() -> None:
    rng = random.Random(5)
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = HistogramFamily("mre_evaluation_score", "scores", LABELS, SCORE_BUCKETS, ours_registry)
    theirs = Histogram("mre_evaluation_score", "scores", LABELS, buckets=SCORE_BUCKETS, registry=theirs_registry)
    values = [
        0.0,
        1.0,
        *SCORE_BUCKETS,
        *(rng.random() for _ in range(2_000)),
        *(rng.choice(SCORE_BUCKETS) for _ in range(500)),
    ]
    for n, value in enumerate(values):
        labels = ("svc", rng.choice(["a", "b"]), rng.choice(["faithfulness", "safety", "abstention"]))
        exemplar = {"trace_id": f"{n:032x}"} if n % 3 else None  # some observations carry none
        ours.labels(*labels).observe(value, exemplar=exemplar)
        theirs.labels(*labels).observe(value, exemplar=exemplar)
    assert _samples(ours_registry) == _samples(theirs_registry)
    assert b'mre_evaluation_score_bucket{evaluation="safety",le="0.05",model="a",service="svc"}' in generate_latest(
        ours_registry
    )


def test_a_value_past_the_last_bound_and_nan_are_counted_as_histogram_counts_them() -> None:
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = HistogramFamily("h", "h", ("x",), (0.5, 1.0), ours_registry)
    theirs = Histogram("h", "h", ("x",), buckets=(0.5, 1.0), registry=theirs_registry)
    for value in (2.0, -1.0, 0.5, math.inf):
        ours.labels("v").observe(value)
        theirs.labels("v").observe(value)
    assert _samples(ours_registry) == _samples(theirs_registry)
    for family in (ours, theirs):
        family.labels("nan").observe(math.nan)  # in no bucket, and the sum says so
    for registry in (ours_registry, theirs_registry):
        assert registry.get_sample_value("h_count", {"x": "nan"}) == 0
        assert math.isnan(registry.get_sample_value("h_sum", {"x": "nan"}) or 0.0)


def test_a_second_family_of_the_same_name_is_refused_and_label_values_are_checked() -> None:
    registry = CollectorRegistry()
    family = HistogramFamily("mre_evaluation_score", "scores", LABELS, SCORE_BUCKETS, registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Histogram("mre_evaluation_score", "again", LABELS, registry=registry)
    with pytest.raises(ValueError, match="expected 3 label values"):
        family.labels("only-one")
    with pytest.raises(ValueError, match="increasing"):
        HistogramFamily("other", "o", ("x",), (1.0, 0.5), CollectorRegistry())


def test_a_family_without_labels_is_one_series_from_the_start_as_a_histogram_without_labels() -> None:
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = HistogramFamily("d_seconds", "durations", (), (0.001, 0.01), ours_registry).labels()
    theirs = Histogram("d_seconds", "durations", buckets=(0.001, 0.01), registry=theirs_registry)
    assert _samples(ours_registry) == _samples(theirs_registry)  # zero counts before any observation
    for value in (0.0005, 0.002, 0.5):
        ours.observe(value)
        theirs.observe(value)
    assert _samples(ours_registry) == _samples(theirs_registry)
