"""A metric family of label sets made on first use, collected by the registry: what the sink's
collectors (``CounterFamily``, ``HistogramFamily``) share. Only making a label set takes the lock;
recording and reading a series need none (each series says why)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from threading import Lock
from typing import Generic, TypeVar

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

S = TypeVar("S")


class LabelledFamily(Generic[S]):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], S] = {}
        self._lock = Lock()
        registry.register(self)  # the subclass's describe and collect: last, once it is whole

    def _new_series(self) -> S:
        raise NotImplementedError

    def collect(self) -> Iterator[Metric]:  # what a scrape shows: the subclass's family
        raise NotImplementedError

    def labels(self, *values: str) -> S:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected {len(self.labelnames)} label values, got {len(values)}")
        series = self._series.get(values)
        if series is None:
            with self._lock:
                series = self._series.setdefault(values, self._new_series())
        return series

    def _snapshot(self) -> list[tuple[tuple[str, ...], S]]:
        with self._lock:
            return list(self._series.items())
