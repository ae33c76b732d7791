"""The sink's histograms as a collector: every answer observes one score per evaluation (16 by
default) and its scoring time, so an observation must cost a bisect and two list writes, not prometheus_client's
``Histogram.observe`` (a Python loop over the 21 bounds, a lock per value, an exemplar validated and
built per call: ~2.5 us each, most of what recording an answer cost).

What a scrape shows is what ``prometheus_client.Histogram`` shows for the same observations:
``_bucket{le}`` (cumulative), ``_count``, ``_sum``, and the newest observation of each bucket as its
exemplar (built at the scrape, not per observation). No ``_created`` series: nothing reads it.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from mre.exporters.labelled_family import LabelledFamily


class HistogramSeries:
    """One label set's counts. Observed by one thread at a time (the pipeline delivers under its lock);
    a scrape copies the buckets (count is their sum, so the two agree), and an observation in flight
    may be in the sum and not yet in a bucket, as with ``Histogram``."""

    __slots__ = ("_bounds", "counts", "exemplars", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0
        # Per bucket, the newest (exemplar labels, value, unix time): what Histogram keeps.
        self.exemplars: list[tuple[Mapping[str, str], float, float] | None] = [None] * len(bounds)

    def observe(self, amount: float, exemplar: Mapping[str, str] | None = None) -> None:
        self.total += amount
        if math.isnan(amount):  # in the sum and in no bucket, as in Histogram
            return
        i = bisect_left(self._bounds, amount)  # the last bound is +Inf: every other value has a bucket
        self.counts[i] += 1
        if exemplar:
            self.exemplars[i] = (exemplar, amount, time.time())


class HistogramFamily(LabelledFamily[HistogramSeries]):
    """A histogram family with label sets made on first use (``labels``), collected by the registry."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("buckets must be strictly increasing")
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = tuple(bounds)
        self._le = [floatToGoString(b) for b in bounds]
        super().__init__(name, documentation, labelnames, registry)  # registers: last

    def _new_series(self) -> HistogramSeries:
        return HistogramSeries(self._bounds)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        # The registry's duplicate-name check reads this (as it does a Histogram's).
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, s in self._snapshot():
            counts, exemplars, total = list(s.counts), list(s.exemplars), s.total
            buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
            cumulative = 0
            for le, count, newest in zip(self._le, counts, exemplars, strict=True):
                cumulative += count
                if newest is None:
                    buckets.append((le, float(cumulative)))
                else:
                    labels, value, at = newest
                    buckets.append((le, float(cumulative), Exemplar(dict(labels), value, at)))
            family.add_metric(list(values), buckets, total)
        yield family
