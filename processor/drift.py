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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from mre.model import Evaluation
from mre.processor.labels import LabelBounds
from mre.processor.question_drift import QuestionComparison, compare_questions, stored_vector

BINS = np.linspace(0.0, 1.0, 11)
T = TypeVar("T")


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
class _Series(Generic[T]):
    """One series' newest ``window`` values and, behind them, the ``window`` before (the rolling
    baseline): a value leaving the newest window moves to the older one."""

    current: deque[T]
    older: deque[T]
    seen: int = 0

    def add(self, value: T) -> None:
        if len(self.current) == self.current.maxlen:
            self.older.append(self.current[0])
        self.current.append(value)
        self.seen += 1


@dataclass
class _Baseline(Generic[T]):
    baseline: list[T]
    current: list[T]
    kind: str  # "previous_model" (a version change) or "rolling" (the version's own older window)
    seen: int
    baseline_seen: int = 0  # values the baseline's own series has seen (it changes a comparison too)


class _Windows(Generic[T]):
    """Series per (service, model, name), bounded in length and in number, and the order in which
    each (service, name) met its model versions."""

    def __init__(self, window: int, max_series: int) -> None:
        self.window = window
        self.max_series = max_series
        self.series: dict[tuple[str, str, str], _Series[T]] = {}
        self.versions: dict[tuple[str, str], list[str]] = {}
        self.dropped = 0  # values of series beyond max_series

    def add(self, key: tuple[str, str, str], value: T) -> None:
        series = self.series.get(key)
        if series is None:
            if len(self.series) >= self.max_series:
                self.dropped += 1
                return
            series = self.series[key] = _Series(deque(maxlen=self.window), deque(maxlen=self.window))
            service, model, name = key
            models = self.versions.setdefault((service, name), [])
            if model not in models:
                models.append(model)
        series.add(value)

    def baseline(self, key: tuple[str, str, str]) -> _Baseline[T] | None:
        series = self.series.get(key)
        if series is None:
            return None
        service, model, name = key
        models = self.versions.get((service, name), [])
        index = models.index(model) if model in models else 0
        if index > 0:
            previous = self.series.get((service, models[index - 1], name))
            return _Baseline(
                list(previous.current) if previous else [],
                list(series.current),
                "previous_model",
                series.seen,
                previous.seen if previous else 0,
            )
        return _Baseline(list(series.older), list(series.current), "rolling", series.seen)


@dataclass
class DriftState:
    """What the monitor concluded for one (service, model, evaluation)."""

    comparison: Comparison | None
    degraded: bool
    baseline: str  # "previous_model" or "rolling"


@dataclass
class QuestionDriftState:
    """Whether the questions a (service, model) gets differ from its baseline's."""

    comparison: QuestionComparison | None
    drifted: bool
    baseline: str


QUESTIONS = "question"


# How old a drift result may be while new values arrive before a scrape recomputes it (seconds).
REFRESH_S = 10.0


class DriftMonitor:
    """Online drift per service: each model version's recent scores against the previous version's
    (a version change is an event), and each version's newest window against its own older window (a
    shift without a version change); the same for the questions asked (hashed n-gram vectors), so that
    a change in what users ask is told apart from a change in how the model answers. Bounded:
    ``window`` values per series, ``max_series`` score series, ``max_question_series`` question series.

    Comparisons run when a scrape asks, at most once per ``refresh_s`` seconds per series while values
    keep arriving: a scrape under load would otherwise pay for every series' test (the question test is
    ~30 ms each, 100 series would be seconds), and a drift that spans a window does not turn in ten
    seconds. A series that has gone quiet is compared once more, on the scrape after it settles."""

    def __init__(
        self,
        window: int = 500,
        min_samples: int = 100,
        alpha: float = 0.01,
        min_effect: float = 0.02,
        clock: Callable[[], float] = time.time,
        max_series: int = 2000,
        max_question_series: int = 100,
        labels: LabelBounds | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        if refresh_s < 0:
            raise ValueError("refresh_s must be zero or more")
        self.window = window
        self.refresh_s = refresh_s
        # The same bounded service and model labels as the other metrics (one is "other" everywhere).
        self.labels = labels or LabelBounds()
        self.min_samples = min_samples
        self.alpha = alpha
        self.min_effect = min_effect
        self.clock = clock
        self._scores: _Windows[float] = _Windows(window, max_series)
        # A question vector is ~370 bytes as float16: 100 (service, model) series of 2 x 500 hold ~37 MB.
        self._questions: _Windows[np.ndarray] = _Windows(window, max_question_series)
        # Each result with what it saw and when (``clock``) it was computed.
        self._question_cache: dict[tuple[str, str], tuple[int, float, QuestionDriftState]] = {}
        self._score_cache: dict[tuple[str, str, str], tuple[tuple[int, int], float, DriftState]] = {}
        self._first_seen: dict[tuple[str, str], float] = {}  # (service, model), bounded like the series
        self._lock = threading.Lock()

    @property
    def versions(self) -> dict[tuple[str, str], list[str]]:
        """(service, evaluation) -> the model versions in the order they were first seen."""
        return self._scores.versions

    @property
    def dropped(self) -> int:
        return self._scores.dropped + self._questions.dropped

    def on_evaluation(self, evaluation: Evaluation) -> None:
        interaction = evaluation.interaction
        service, model = self.labels.service(interaction.service), self.labels.model(interaction.model)
        # Hashing happens outside the lock: it is the costly part and touches nothing shared.
        vector = stored_vector(interaction.question) if interaction.question else None
        with self._lock:
            if (service, model) not in self._first_seen and len(self._first_seen) < self._scores.max_series:
                self._first_seen[(service, model)] = self.clock()
            for name, score in evaluation.scores.items():
                self._scores.add((service, model, name), score.value)
            if vector is not None:
                self._questions.add((service, model, QUESTIONS), vector)

    def first_seen(self, service: str, model: str) -> float | None:
        with self._lock:
            return self._first_seen.get((service, model))

    def _reusable(self, nothing_new: bool, computed_at: float, has_result: bool) -> bool:
        """The one rule for both kinds of test: a result stands while nothing new arrived, and while
        it is younger than ``refresh_s`` even if values arrived. "Too few samples" is no result: it
        stands only while nothing arrived (the next values may be enough)."""
        return nothing_new or (has_result and self.clock() - computed_at < self.refresh_s)

    def state(self, service: str, model: str, evaluation: str) -> DriftState:
        """Compared again only when scores arrived since the last comparison (scrapes of an idle series,
        and several scrapers, read the result) and the last one is ``refresh_s`` old."""
        key = (service, model, evaluation)
        with self._lock:
            pair = self._scores.baseline(key)
            cached = self._score_cache.get(key)
        if pair is None:
            return DriftState(None, False, "none")
        seen = (pair.seen, pair.baseline_seen)
        if cached is not None and self._reusable(cached[0] == seen, cached[1], cached[2].comparison is not None):
            return cached[2]
        if len(pair.baseline) < self.min_samples or len(pair.current) < self.min_samples:
            state = DriftState(None, False, pair.kind)
        else:
            comparison = compare(pair.baseline, pair.current)
            state = DriftState(comparison, comparison.degraded(self.alpha, self.min_effect), pair.kind)
        with self._lock:
            if len(self._score_cache) >= self._scores.max_series and key not in self._score_cache:
                self._score_cache.clear()  # series were evicted and replaced: start again, bounded
            self._score_cache[key] = (seen, self.clock(), state)
        return state

    def question_state(self, service: str, model: str) -> QuestionDriftState:
        """The permutation test costs ~30 ms at 500 per side, so a result is reused until a tenth of a
        window of new questions has arrived and it is ``refresh_s`` old."""
        with self._lock:
            pair = self._questions.baseline((service, model, QUESTIONS))
            cached = self._question_cache.get((service, model))
        if pair is None:
            return QuestionDriftState(None, False, "none")
        # Fewer than a tenth of a window of new questions counts as nothing new (cached: a result).
        if cached is not None and self._reusable(pair.seen - cached[0] < max(1, self.window // 10), cached[1], True):
            return cached[2]
        if len(pair.baseline) < self.min_samples or len(pair.current) < self.min_samples:
            return QuestionDriftState(None, False, pair.kind)  # not cached: the next question may be enough
        comparison = compare_questions(np.stack(pair.baseline), np.stack(pair.current))
        state = QuestionDriftState(comparison, comparison.drifted(self.alpha), pair.kind)
        with self._lock:
            self._question_cache[(service, model)] = (pair.seen, self.clock(), state)
        return state

    def series(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._scores.series)

    def question_series(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(service, model) for service, model, _ in self._questions.series]
