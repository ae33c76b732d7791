"""Bounded metric labels: what any span may put into a label, and how many series a family may have.

A label value comes from the traffic (a service name, a model, a route), so each is cleaned and cut to
:data:`MAX_LABEL_CHARS`, each label admits its first ``limit`` distinct values (later ones become
``other``), and each metric family admits at most ``max_series`` label sets (the rest are recorded
under the family's overflow set and counted). The same bounds hold for every ``mre_*`` family, the
drift and human-calibration ones included, so ``/metrics`` stays small whatever arrives
(``SECURITY.md`` gives the sizes).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Final

MAX_LABEL_CHARS: Final = 64
OTHER: Final = "other"
UNKNOWN: Final = "unknown"


def clean_label(value: object) -> str:
    """A label value from traffic: printable, at most MAX_LABEL_CHARS; empty or absent -> unknown."""
    if not isinstance(value, str) or not value:
        return UNKNOWN
    text = value[: MAX_LABEL_CHARS * 4]  # look at a bounded prefix only
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "_" for ch in text)
    return text[:MAX_LABEL_CHARS] or UNKNOWN


class BoundedLabel:
    """Admits the first ``limit`` distinct (cleaned) values of a label; later ones become ``other``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return UNKNOWN
        if value in self._seen:
            return value
        cleaned = clean_label(value)
        if cleaned in self._seen:
            return cleaned
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(cleaned)
                return cleaned
        return OTHER


class LabelBounds:
    """The bounded labels every sink shares, so one model is "other" everywhere or nowhere."""

    def __init__(self, max_services: int = 50, max_models: int = 50, max_routes: int = 50) -> None:
        self.service = BoundedLabel(max_services)
        self.model = BoundedLabel(max_models)
        self.route = BoundedLabel(max_routes)


class SeriesBudget:
    """At most ``max_series`` label sets for one metric family; ``overflow`` counts what was folded."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()
        self.overflow = 0

    def admit(self, key: Hashable) -> bool:
        if key in self._seen:
            return True
        with self._lock:
            if len(self._seen) < self.max_series:
                self._seen.add(key)
                return True
            self.overflow += 1
            return False
