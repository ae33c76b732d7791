"""Behavioural drift: two-sample statistics between score distributions, and an online monitor per
service, model version and evaluation.

Statistics (numpy only): Mann-Whitney U (normal approximation with tie correction; two-sided p), the
Kolmogorov-Smirnov distance, the population stability index over ten 0.1-wide bins, and the effect
size as the difference of means (and Cohen's d). A comparison below ``min_samples`` on either side is
not made: too few answers say nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mre.model import Evaluation

BINS = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True, slots=True)
class Comparison:
    n_baseline: int
    n_current: int
    mean_baseline: float
    mean_current: float
    mean_difference: float  # current - baseline: negative is worse
    cohens_d: float
    p_value: float  # Mann-Whitney, two-sided
    ks: float
    psi: float

    def degraded(self, alpha: float, min_effect: float) -> bool:
        return self.p_value < alpha and self.mean_difference <= -min_effect


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    n1, n2 = len(a), len(b)
    combined = np.concatenate([a, b])
    order = np.argsort(combined, kind="mergesort")
    ranks = np.empty(len(combined))
    sorted_values = combined[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(combined)]))
    tie_term = 0.0
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
        t = end - start
        tie_term += t**3 - t
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    mean_u = n1 * n2 / 2.0
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (abs(u - mean_u) - 0.5) / math.sqrt(variance)  # continuity correction
    return min(1.0, 2.0 * _normal_sf(max(z, 0.0)))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    values = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), values, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), values, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def psi(a: np.ndarray, b: np.ndarray) -> float:
    expected = np.histogram(np.clip(a, 0, 1), BINS)[0] / len(a) + 1e-4
    actual = np.histogram(np.clip(b, 0, 1), BINS)[0] / len(b) + 1e-4
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare(baseline: Sequence[float], current: Sequence[float]) -> Comparison:
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(current, dtype=float)
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0) if len(a) > 1 and len(b) > 1 else 0.0
    difference = float(b.mean() - a.mean())
    return Comparison(
        n_baseline=len(a),
        n_current=len(b),
        mean_baseline=float(a.mean()),
        mean_current=float(b.mean()),
        mean_difference=difference,
        cohens_d=difference / pooled if pooled > 0 else 0.0,
        p_value=mann_whitney_p(a, b),
        ks=ks_distance(a, b),
        psi=psi(a, b),
    )


@dataclass
class _Series:
    scores: deque[float]
    first_seen: float
    seen: int = 0


@dataclass
class DriftState:
    """What the monitor concluded for one (service, model, evaluation)."""

    comparison: Comparison | None
    degraded: bool
    baseline: str  # "previous_model" or "rolling"


@dataclass
class DriftMonitor:
    """Online drift per (service, evaluation): each model version's recent scores against the
    previous version's (a version change is an event), and each version's newest window against its
    own older window (a shift without a version change). Bounded: ``window`` scores per series."""

    window: int = 500
    min_samples: int = 100
    alpha: float = 0.01
    min_effect: float = 0.02
    clock: object = time.time
    versions: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (service, evaluation) -> models
    _series: dict[tuple[str, str, str], _Series] = field(default_factory=dict)
    _history: dict[tuple[str, str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_evaluation(self, evaluation: Evaluation) -> None:
        interaction = evaluation.interaction
        service, model = interaction.service or "unknown", interaction.model or "unknown"
        with self._lock:
            for name, score in evaluation.scores.items():
                key = (service, model, name)
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = _Series(deque(maxlen=self.window), self.clock())  # type: ignore[operator]
                    self._history[key] = deque(maxlen=self.window)
                    models = self.versions.setdefault((service, name), [])
                    if model not in models:
                        models.append(model)
                if len(series.scores) == self.window:
                    self._history[key].append(series.scores[0])  # the oldest moves to the older window
                series.scores.append(score.value)
                series.seen += 1

    def first_seen(self, service: str, model: str) -> float | None:
        times = [s.first_seen for (sv, m, _), s in self._series.items() if sv == service and m == model]
        return min(times) if times else None

    def state(self, service: str, model: str, evaluation: str) -> DriftState:
        with self._lock:
            series = self._series.get((service, model, evaluation))
            models = self.versions.get((service, evaluation), [])
            if series is None:
                return DriftState(None, False, "none")
            current = list(series.scores)
            index = models.index(model) if model in models else 0
            if index > 0:
                previous = self._series.get((service, models[index - 1], evaluation))
                baseline = list(previous.scores) if previous else []
                kind = "previous_model"
            else:
                baseline = list(self._history[(service, model, evaluation)])
                kind = "rolling"
        if len(baseline) < self.min_samples or len(current) < self.min_samples:
            return DriftState(None, False, kind)
        comparison = compare(baseline, current)
        return DriftState(comparison, comparison.degraded(self.alpha, self.min_effect), kind)

    def series(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._series)
