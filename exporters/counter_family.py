"""The sink's counters as a collector: every answer increments ~13 of them, so an increment must be
one float addition, not prometheus_client's ``Counter.inc`` (an observability check, a sign check and
a lock per value: ~0.45 us each, a third of what recording an answer cost).

What a scrape shows is what ``prometheus_client.Counter`` shows for the same increments: one
``_total`` sample per label set. No ``_created`` series: nothing reads it (as with the
histograms, ``mre.exporters.histogram_family``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import CollectorRegistry

from mre.exporters.labelled_family import LabelledFamily


class CountSeries:
    """One label set's count. Incremented by one thread at a time (the pipeline delivers under its
    lock, as for ``HistogramSeries``); a scrape reads the float, which no increment leaves half-written."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class CounterFamily(LabelledFamily[CountSeries]):
    """A counter family with label sets made on first use (``labels``), collected by the registry."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry) -> None:
        # As Counter: the sample is named <name>_total, whether or not the name says so.
        super().__init__(name.removesuffix("_total"), documentation, labelnames, registry)

    def _new_series(self) -> CountSeries:
        return CountSeries()

    def describe(self) -> Iterator[CounterMetricFamily]:
        # The registry's duplicate-name check reads this (as it does a Counter's).
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, s in self._snapshot():
            family.add_metric(list(values), s.value)
        yield family
