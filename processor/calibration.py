"""Human calibration: human verdicts matched to the automated scores of the same answer.

Automated scores drift too; only regular human verdicts keep them honest. A verdict names a trace
(optionally the generation span), an evaluation (a scorer name, or ``overall`` for a thumbs up/down on
the whole answer) and pass/fail. The monitor remembers the automated verdicts of the last
``max_traces`` scored traces; a human verdict that arrives before its trace is scored waits (bounded
in number and age). Matched pairs count agreement per (service, evaluation), in total (a counter
Prometheus aggregates over replicas and time) and over the last ``window`` pairs (ratio and Cohen's
kappa, which discounts the agreement expected by chance when almost every answer passes).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mre import semconv as sc
from mre.human_feedback import DEFAULT_THRESHOLD, HumanVerdict
from mre.model import Evaluation
from mre.processor.labels import LabelBounds
from mre.slo import SLO

UNKNOWN_TRACE = "unknown_trace"  # never scored here, or scored too long ago to remember
NOT_SCORED = "not_scored"  # the trace was scored, but not by this evaluation
DUPLICATE = "duplicate"  # the same (trace, evaluation, annotator) was counted already


def automated_verdicts(evaluation: Evaluation, thresholds: Mapping[str, float]) -> dict[str, bool]:
    """Pass/fail per scorer (the SLO threshold, else 0.5) and ``overall`` (every SLO good)."""
    verdicts = {
        name: score.value >= thresholds.get(name, DEFAULT_THRESHOLD) for name, score in evaluation.scores.items()
    }
    verdicts[sc.EVALUATION_OVERALL] = all(outcome.good for outcome in evaluation.slo_outcomes)
    return verdicts


@dataclass(frozen=True, slots=True)
class Agreement:
    verdicts: int
    ratio: float  # share of verdicts where the scorer and the human agree
    kappa: float  # Cohen's kappa: 0 is chance-level agreement, 1 perfect
    missed_failures: int  # the human failed the answer, the scorer passed it


def agreement(pairs: Sequence[tuple[bool, bool]]) -> Agreement:
    """``pairs`` of (human passed, automated passed)."""
    n = len(pairs)
    if n == 0:
        return Agreement(0, 0.0, 0.0, 0)
    agree = sum(1 for human, automated in pairs if human == automated)
    human_pass = sum(1 for human, _ in pairs if human) / n
    auto_pass = sum(1 for _, automated in pairs if automated) / n
    chance = human_pass * auto_pass + (1 - human_pass) * (1 - auto_pass)
    observed = agree / n
    kappa = (observed - chance) / (1 - chance) if chance < 1 else (1.0 if observed == 1 else 0.0)
    missed = sum(1 for human, automated in pairs if not human and automated)
    return Agreement(n, observed, kappa, missed)


# Per scored answer: (service, span id as an int, the evaluations scored, bit i set when evaluation i
# passed), held per trace id (an int) as a tuple of answers. Compact on purpose: ~280 bytes per trace
# (measured), so the default 20,000 traces hold ~5.5 MB.
_Answer = tuple[str, int, tuple[str, ...], int]


@dataclass
class CalibrationMonitor:
    """An EvaluationSink (remembers automated verdicts) that also takes human verdicts."""

    slos: Sequence[SLO] = ()
    max_traces: int = 20_000  # how far back a verdict can reach: 20,000 answers (~7 minutes at 50/s)
    max_pending: int = 10_000
    pending_ttl_s: float = 600.0
    window: int = 200
    clock: Callable[[], float] = time.monotonic
    counts: dict[tuple[str, str, bool, bool], int] = field(default_factory=dict)  # service, eval, human, auto
    unmatched: dict[str, int] = field(default_factory=dict)
    _scored: dict[int, tuple[_Answer, ...]] = field(default_factory=dict)  # insertion order is age
    _names: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)  # one tuple per name set
    _pending: OrderedDict[str, list[tuple[float, HumanVerdict]]] = field(default_factory=OrderedDict)
    _pending_count: int = 0
    _recent: dict[tuple[str, str], deque[tuple[bool, bool]]] = field(default_factory=dict)
    # The same bounded service labels as the other metrics; human verdicts already counted, so that a
    # verdict sent twice (or forged two hundred times) counts once per (trace, evaluation, annotator).
    labels: LabelBounds = field(default_factory=LabelBounds)
    _seen_verdicts: OrderedDict[tuple[str, str, str], None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.max_traces < 1 or self.max_pending < 1 or self.window < 1:
            raise ValueError("max_traces, max_pending and window must be positive")
        self._thresholds = {slo.scorer: slo.threshold for slo in self.slos}

    def on_evaluation(self, evaluation: Evaluation) -> None:
        interaction = evaluation.interaction
        verdicts = automated_verdicts(evaluation, self._thresholds)
        names = tuple(verdicts)
        bits = sum(1 << i for i, passed in enumerate(verdicts.values()) if passed)
        trace_key = int(interaction.trace_id, 16)
        with self._lock:
            answer = (
                self.labels.service(interaction.service),
                int(interaction.span_id, 16),
                self._names.setdefault(names, names),
                bits,
            )
            scored = self._scored.get(trace_key)
            if scored is None:
                if len(self._scored) >= self.max_traces:
                    del self._scored[next(iter(self._scored))]
                scored = (answer,)
            else:
                scored = (*scored, answer)
            self._scored[trace_key] = scored
            waiting = self._pending.pop(interaction.trace_id, None)
            if waiting:
                self._pending_count -= len(waiting)
                for _, verdict in waiting:
                    self._match(verdict, scored)
            self._expire(self.clock())

    def on_verdict(self, verdict: HumanVerdict) -> None:
        now = self.clock()
        key = (verdict.trace_id, verdict.evaluation, verdict.annotator or "")
        with self._lock:
            if key in self._seen_verdicts:
                self._count_unmatched(DUPLICATE)
                return
            self._seen_verdicts[key] = None
            if len(self._seen_verdicts) > self.max_traces * 4:
                self._seen_verdicts.popitem(last=False)
            scored = self._scored.get(int(verdict.trace_id, 16))
            if scored is not None:
                self._match(verdict, scored)
            else:
                self._pending.setdefault(verdict.trace_id, []).append((now, verdict))
                self._pending_count += 1
                while self._pending_count > self.max_pending:
                    _, evicted = self._pending.popitem(last=False)
                    self._pending_count -= len(evicted)
                    self._count_unmatched(UNKNOWN_TRACE, len(evicted))
            self._expire(now)

    def _expire(self, now: float) -> None:
        while self._pending:
            trace_id, waiting = next(iter(self._pending.items()))
            if now - waiting[0][0] < self.pending_ttl_s:
                return
            del self._pending[trace_id]
            self._pending_count -= len(waiting)
            self._count_unmatched(UNKNOWN_TRACE, len(waiting))

    def _count_unmatched(self, reason: str, n: int = 1) -> None:
        self.unmatched[reason] = self.unmatched.get(reason, 0) + n

    def _match(self, verdict: HumanVerdict, scored: tuple[_Answer, ...]) -> None:
        span = int(verdict.span_id, 16) if verdict.span_id else None
        answers = [a for a in scored if span is None or a[1] == span]
        found = [
            bool(bits >> names.index(verdict.evaluation) & 1)
            for _, _, names, bits in answers
            if verdict.evaluation in names
        ]
        if not found:
            self._count_unmatched(NOT_SCORED)
            return
        automated = all(found)  # a trace with several answers passes only if each does
        service = answers[0][0]  # the answer's service, not the one that sent the verdict
        key = (service, verdict.evaluation, verdict.passed, automated)
        self.counts[key] = self.counts.get(key, 0) + 1
        recent = self._recent.get((service, verdict.evaluation))
        if recent is None:
            recent = self._recent[(service, verdict.evaluation)] = deque(maxlen=self.window)
        recent.append((verdict.passed, automated))

    def agreement(self, service: str, evaluation: str) -> Agreement:
        with self._lock:
            pairs = list(self._recent.get((service, evaluation), ()))
        return agreement(pairs)

    def calibrated(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._recent)

    def snapshot(self) -> tuple[dict[tuple[str, str, bool, bool], int], dict[str, int], int]:
        with self._lock:
            return dict(self.counts), dict(self.unmatched), self._pending_count
