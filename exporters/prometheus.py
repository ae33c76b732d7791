"""Prometheus metrics for behaviour: SLI events, score histograms, interactions, processor health.

Naming per Prometheus practice (``mre_`` prefix, ``_total``, ``_seconds``); labels are bounded
(service, model, evaluation, slo, outcome, reason) and trace ids go into exemplars, never labels.
The registry is injected so tests and embedders own it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mre.exporters import conventions as c
from mre.exporters.counter_family import CounterFamily
from mre.exporters.forward import OtlpForwarder
from mre.exporters.histogram_family import HistogramFamily
from mre.model import Evaluation
from mre.processor.assembly import TraceAssembler
from mre.processor.calibration import CalibrationMonitor
from mre.processor.coverage import REASONS as UNSCORED_REASONS
from mre.processor.drift import DriftMonitor
from mre.processor.health import BAD_INPUT
from mre.processor.intake import IGNORED
from mre.processor.judges.cascade import DECISIONS
from mre.processor.labels import OTHER, UNKNOWN, LabelBounds, SeriesBudget
from mre.processor.limits import CUTS
from mre.processor.pipeline import ScoringPipeline
from mre.processor.worker import WorkerStats

SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
SCORING_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
GOOD = "good"
BAD = "bad"
UNKNOWN_CAUSE = "untriaged"  # a bad event whose answer triage gave no cause (cannot happen today; never dropped)


MAX_PLANS = 4_096  # (service, model, route) plans held; the label bounds allow more, rarely seen


@dataclass(slots=True)
class _Plan:
    """The children one (service, model, route) records into, kept once each is admitted: an answer
    then costs a dict lookup per score and SLO instead of building and hashing each label set."""

    interactions: Any = None
    scores: dict[str, Any] = field(default_factory=dict)
    slos: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class PrometheusSink:
    """An EvaluationSink that records each evaluation as metrics.

    Labels come from traffic, so they are bounded (``mre.processor.labels``): each value cleaned and
    cut, each label capped in distinct values, each family capped in label sets (the rest fold into
    the family's overflow set, counted in ``mre_metrics_series_overflow_total{metric}``). Children are
    cached per label set: recording an answer is a few dict lookups, not a ``labels()`` call each."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        default_service: str = UNKNOWN,
        max_models: int = 50,
        max_services: int = 50,
        max_routes: int = 50,
        labels: LabelBounds | None = None,
        max_series: Mapping[str, int] | None = None,
        max_plans: int = MAX_PLANS,
    ) -> None:
        self._default_service = default_service
        self._max_plans = max_plans
        self.labels = labels or LabelBounds(max_services, max_models, max_routes)
        caps = {**DEFAULT_MAX_SERIES, **(max_series or {})}
        self.interactions = CounterFamily(
            c.METRIC_INTERACTIONS,
            "Interactions (answers) scored by the behaviour processor",
            [c.LABEL_SERVICE, c.LABEL_MODEL],
            registry=registry,
        )
        self.scores = HistogramFamily(
            c.METRIC_EVALUATION_SCORE,
            "Behavioural evaluation scores in [0, 1], higher is better; exemplars carry trace ids",
            [c.LABEL_SERVICE, c.LABEL_MODEL, c.LABEL_EVALUATION],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.slo_events = CounterFamily(
            c.METRIC_SLO_EVENTS,
            "SLI events per SLO: outcome=good or bad (route and model let an SLO file filter)",
            [c.LABEL_SERVICE, c.LABEL_SLO, c.LABEL_OUTCOME, c.LABEL_ROUTE, c.LABEL_MODEL],
            registry=registry,
        )
        self.failures = CounterFamily(
            c.METRIC_FAILURES,
            "Interactions that failed an SLO, by triaged cause",
            [c.LABEL_SERVICE, c.LABEL_CAUSE],
            registry=registry,
        )
        self.slo_failures = CounterFamily(
            c.METRIC_SLO_FAILURES,
            "Bad events of each SLO, by the triaged cause of their answer (the burn alert's dominant_cause)",
            [c.LABEL_SERVICE, c.LABEL_SLO, c.LABEL_CAUSE],
            registry=registry,
        )
        self.unscored = CounterFamily(
            c.METRIC_INTERACTIONS_UNSCORED,
            "Answers that could not be fully scored (their text, question or context was not captured), by reason",
            [c.LABEL_SERVICE, c.LABEL_REASON],
            registry=registry,
        )
        self.skipped = CounterFamily(
            c.METRIC_SCORER_SKIPPED,
            "Scorers that gave no score, by the first input the answer lacked (or not_applicable)",
            [c.LABEL_EVALUATION, c.LABEL_REASON],
            registry=registry,
        )
        self.judge_decisions = CounterFamily(
            c.METRIC_JUDGE_DECISIONS,
            "Why each answer was or was not escalated to a judge (cascade decisions)",
            [c.LABEL_EVALUATION, "decision"],
            registry=registry,
        )
        # A collector too (one observation per answer); no label, so its one series is made here.
        self.scoring_duration = HistogramFamily(
            c.METRIC_SCORING_DURATION,
            "Time to score one interaction with all configured scorers",
            (),
            buckets=SCORING_BUCKETS,
            registry=registry,
        ).labels()
        families: dict[str, CounterFamily | HistogramFamily] = {
            c.METRIC_INTERACTIONS: self.interactions,
            c.METRIC_EVALUATION_SCORE: self.scores,
            c.METRIC_SLO_EVENTS: self.slo_events,
            c.METRIC_FAILURES: self.failures,
            c.METRIC_SLO_FAILURES: self.slo_failures,
            c.METRIC_INTERACTIONS_UNSCORED: self.unscored,
            c.METRIC_SCORER_SKIPPED: self.skipped,
            c.METRIC_JUDGE_DECISIONS: self.judge_decisions,
        }
        self.budgets = {name: SeriesBudget(caps[name]) for name in families}
        self._families = {name: (metric, self.budgets[name]) for name, metric in families.items()}
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._plans: dict[tuple[str, str, str], _Plan] = {}
        self._services_seen: set[str] = set()
        registry.register(_OverflowCollector(self.budgets))

    def _child(self, family: str, key: tuple[str, ...], overflow: tuple[str, ...]) -> Any:
        child = self._children.get((family, key))
        if child is None:
            metric, budget = self._families[family]
            if not budget.admit(key):
                return self._child(family, overflow, overflow) if key != overflow else metric.labels(*key)
            child = self._children[(family, key)] = metric.labels(*key)
        return child

    def _kept(self, family: str, key: tuple[str, ...], overflow: tuple[str, ...]) -> tuple[Any, bool]:
        """The child, and whether it is the label set's own (admitted: a plan may keep it). A folded
        recording is looked up each time, so the overflow counts every one."""
        child = self._child(family, key, overflow)
        return child, self._children.get((family, key)) is child

    def _plan(self, service: str, model: str, route: str) -> _Plan:
        key = (service, model, route)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= self._max_plans:
                self._plans.clear()  # label sets beyond the bound: looked up again, not held
            plan = self._plans[key] = _Plan()
        return plan

    def on_evaluation(self, evaluation: Evaluation) -> None:
        interaction = evaluation.interaction
        service = self.labels.service(interaction.service or self._default_service)
        model = self.labels.model(interaction.model)
        route = self.labels.route(interaction.route)
        exemplar = {"trace_id": interaction.trace_id}
        if service not in self._services_seen:
            # Every reason exists at 0 from a service's first answer: rates start from 0, and the
            # coverage panels show "none" rather than "no data".
            self._services_seen.add(service)
            for reason in UNSCORED_REASONS:
                self._child(c.METRIC_INTERACTIONS_UNSCORED, (service, reason), (OTHER, reason))
        plan = self._plan(service, model, route)
        counted = plan.interactions
        if counted is None:
            counted, kept = self._kept(c.METRIC_INTERACTIONS, (service, model), (OTHER, OTHER))
            plan.interactions = counted if kept else None
        counted.inc()
        scores = plan.scores
        for name, score in evaluation.scores.items():
            series = scores.get(name)
            if series is None:
                series, kept = self._kept(c.METRIC_EVALUATION_SCORE, (service, model, name), (OTHER, OTHER, name))
                if kept:
                    scores[name] = series
            series.observe(score.value, exemplar=exemplar)
            escalation = score.details.get("escalation")
            if isinstance(escalation, dict) and escalation.get("decision") in DECISIONS:
                decision = escalation["decision"]
                self._child(c.METRIC_JUDGE_DECISIONS, (name, decision), (OTHER, decision)).inc()
        slos = plan.slos
        for outcome in evaluation.slo_outcomes:
            slo = outcome.slo
            pair = slos.get(slo)
            if pair is None:
                # Both outcomes exist from the first event of a label set, so rate() sees the first bad
                # event rise from 0 instead of a new series appearing with it.
                good, good_kept = self._kept(
                    c.METRIC_SLO_EVENTS, (service, slo, GOOD, route, model), (OTHER, slo, GOOD, OTHER, OTHER)
                )
                bad, bad_kept = self._kept(
                    c.METRIC_SLO_EVENTS, (service, slo, BAD, route, model), (OTHER, slo, BAD, OTHER, OTHER)
                )
                pair = (good, bad)
                if good_kept and bad_kept:
                    slos[slo] = pair
            pair[0 if outcome.good else 1].inc()
            if not outcome.good:
                cause = evaluation.cause or UNKNOWN_CAUSE
                self._child(c.METRIC_SLO_FAILURES, (service, slo, cause), (OTHER, slo, cause)).inc()
        if evaluation.cause is not None:
            self._child(c.METRIC_FAILURES, (service, evaluation.cause), (OTHER, evaluation.cause)).inc()
        if evaluation.unscored is not None:
            reason = evaluation.unscored
            self._child(c.METRIC_INTERACTIONS_UNSCORED, (service, reason), (OTHER, reason)).inc()
        for name, reason in evaluation.skipped.items():
            self._child(c.METRIC_SCORER_SKIPPED, (name, reason), (OTHER, reason)).inc()
        self.scoring_duration.observe(evaluation.duration_s)


# Label sets per family (SECURITY.md: with MAX_LABEL_CHARS these keep /metrics under ~10 MB).
DEFAULT_MAX_SERIES: Mapping[str, int] = {
    c.METRIC_INTERACTIONS: 1_000,
    c.METRIC_EVALUATION_SCORE: 500,  # x 23 lines each (21 buckets, sum, count)
    c.METRIC_SLO_EVENTS: 4_000,  # good and bad of 2,000 (service, slo, route, model)
    c.METRIC_FAILURES: 500,
    c.METRIC_SLO_FAILURES: 1_000,
    c.METRIC_INTERACTIONS_UNSCORED: 500,
    c.METRIC_SCORER_SKIPPED: 500,
    c.METRIC_JUDGE_DECISIONS: 200,
}


class _OverflowCollector(Collector):
    def __init__(self, budgets: Mapping[str, SeriesBudget]) -> None:
        self._budgets = budgets

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            c.METRIC_SERIES_OVERFLOW,
            "Recordings folded into a family's overflow label set because the family hit its series bound",
            labels=["metric"],
        )
        for name, budget in sorted(self._budgets.items()):
            family.add_metric([name], budget.overflow)
        yield family


class _Processor(Protocol):
    """What the health collector reads: a BehaviorSpanProcessor or the service's TraceWorker."""

    @property
    def stats(self) -> WorkerStats: ...
    @property
    def assembler(self) -> TraceAssembler: ...
    @property
    def pipeline(self) -> ScoringPipeline: ...
    @property
    def queue_size(self) -> int: ...


class ProcessorHealthCollector(Collector):
    """Reads the processor's own counters at scrape time (no locking on the hot path)."""

    def __init__(self, processor: _Processor) -> None:
        self._processor = processor

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        p = self._processor
        received = CounterMetricFamily(c.METRIC_SPANS_RECEIVED, "Spans received by the behaviour processor")
        received.add_metric([], p.stats.spans_received)
        yield received
        dropped = CounterMetricFamily(
            c.METRIC_SPANS_DROPPED, "Spans dropped before scoring, by reason", labels=[c.LABEL_REASON]
        )
        assembly = p.assembler.stats
        reasons = dict(p.stats.spans_dropped)
        reasons["evicted"] = assembly.spans_evicted
        reasons["late"] = assembly.spans_late
        reasons["trace_too_large"] = assembly.spans_over_trace_limit
        for reason, count in sorted(reasons.items()):
            dropped.add_metric([reason], count)
        yield dropped
        pending = GaugeMetricFamily(c.METRIC_TRACES_PENDING, "Traces waiting for their root span or timeout")
        pending.add_metric([], p.assembler.pending_traces)
        yield pending
        queue = GaugeMetricFamily(c.METRIC_QUEUE_SPANS, "Spans queued for the processor's worker")
        queue.add_metric([], p.queue_size)
        yield queue
        queue_bytes = GaugeMetricFamily(c.METRIC_QUEUE_BYTES, "Bytes of requests queued for the worker")
        queue_bytes.add_metric([], getattr(p, "queue_bytes", 0))
        yield queue_bytes
        held = GaugeMetricFamily(c.METRIC_PENDING_BYTES, "Bytes held by traces waiting for their root (what they pin)")
        held.add_metric([], p.assembler.pending_bytes)
        yield held
        errors = CounterMetricFamily(
            c.METRIC_SCORER_ERRORS, "Scorer exceptions, by evaluation", labels=[c.LABEL_EVALUATION]
        )
        for name, count in sorted(p.pipeline.stats.scorer_errors.items()):
            errors.add_metric([name], count)
        yield errors
        refused = CounterMetricFamily(
            c.METRIC_SPANS_REFUSED, "Spans refused with a retryable status at the queue bound (not lost)"
        )
        refused.add_metric([], p.stats.refused)
        yield refused
        incomplete = CounterMetricFamily(
            c.METRIC_TRACES_INCOMPLETE,
            "Traces scored without all their spans: a span's parent never arrived, or the root never did (timeout)",
            labels=[c.LABEL_REASON],
        )
        incomplete.add_metric(["missing_parent"], p.stats.traces_missing_parent)
        incomplete.add_metric(["root_never_seen"], assembly.traces_timed_out)
        yield incomplete
        truncated = CounterMetricFamily(
            c.METRIC_CONTENT_TRUNCATED,
            "Answer, question or document text cut to its analysed size (processor/limits.py), by field",
            labels=["field"],
        )
        for cut_field, count in sorted(CUTS.snapshot().items()):
            truncated.add_metric([cut_field], count)
        yield truncated
        bad = CounterMetricFamily(c.METRIC_BAD_INPUT, "Malformed or invalid input, by kind", labels=["kind"])
        for kind, count in sorted(BAD_INPUT.snapshot().items()):
            bad.add_metric([kind], count)
        yield bad
        ignored = CounterMetricFamily(
            c.METRIC_IGNORED,
            "Application data accepted and dropped (OTLP metrics points; log records when feedback is off), by signal",
            labels=["signal"],
        )
        for signal in ("metrics", "logs"):
            ignored.add_metric([signal], IGNORED.snapshot().get(signal, 0))
        yield ignored
        cpu = CounterMetricFamily(
            c.METRIC_CPU_SECONDS,
            "CPU seconds the processor's worker spent, by step: ingest (spans into traces), read (spans to "
            "interactions), score, deliver (metrics, records, forwarding)",
            labels=[c.LABEL_STEP],
        )
        for step, seconds in p.stats.cpu_seconds.items():
            cpu.add_metric([step], seconds)
        yield cpu


class ForwarderHealthCollector(Collector):
    """The forwarder's delivery counters: what was sent, retried and dropped (by reason)."""

    def __init__(self, forwarder: OtlpForwarder) -> None:
        self._forwarder = forwarder

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        f = self._forwarder
        sent = CounterMetricFamily(c.METRIC_FORWARD_SENT, "Items delivered downstream", labels=["signal"])
        for kind, count in sorted(f.stats.sent.items()):
            sent.add_metric([kind], count)
        yield sent
        dropped = CounterMetricFamily(
            c.METRIC_FORWARD_DROPPED, "Items not delivered, by signal and reason", labels=["signal", c.LABEL_REASON]
        )
        for (kind, reason), count in sorted(f.stats.dropped.items()):
            dropped.add_metric([kind, reason], count)
        yield dropped
        retries = CounterMetricFamily(c.METRIC_FORWARD_RETRIES, "Export attempts retried after a retryable error")
        retries.add_metric([], f.stats.retries)
        yield retries
        queued = GaugeMetricFamily(c.METRIC_FORWARD_QUEUE_ITEMS, "Items waiting to be delivered downstream")
        queued.add_metric([], f.queued_items)
        yield queued
        queued_bytes = GaugeMetricFamily(c.METRIC_FORWARD_QUEUE_BYTES, "Bytes waiting to be delivered downstream")
        queued_bytes.add_metric([], f.queued_bytes)
        yield queued_bytes


class DriftCollector(Collector):
    """The drift monitor's conclusions, computed at scrape time per (service, model, evaluation)."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        labels = [c.LABEL_SERVICE, c.LABEL_MODEL, c.LABEL_EVALUATION, "baseline"]
        families = {
            "p_value": GaugeMetricFamily(
                c.METRIC_DRIFT_P_VALUE, "Two-sample test p-value against the baseline", labels=labels
            ),
            "mean_difference": GaugeMetricFamily(
                c.METRIC_DRIFT_MEAN_DIFFERENCE, "Mean score now minus the baseline's (negative is worse)", labels=labels
            ),
            "psi": GaugeMetricFamily(
                c.METRIC_DRIFT_PSI, "Population stability index against the baseline", labels=labels
            ),
            "degraded": GaugeMetricFamily(
                c.METRIC_DRIFT_DEGRADED, "1 when the scores are significantly worse than the baseline", labels=labels
            ),
        }
        first_seen = GaugeMetricFamily(
            c.METRIC_MODEL_FIRST_SEEN, "When a model version was first seen", labels=labels[:2]
        )
        seen: set[tuple[str, str]] = set()
        for service, model, evaluation in self._monitor.series():
            if (service, model) not in seen:
                seen.add((service, model))
                when = self._monitor.first_seen(service, model)
                if when is not None:
                    first_seen.add_metric([service, model], when)
            state = self._monitor.state(service, model, evaluation)
            if state.comparison is None:
                continue
            values = [service, model, evaluation, state.baseline]
            families["p_value"].add_metric(values, state.comparison.p_value)
            families["mean_difference"].add_metric(values, state.comparison.mean_difference)
            families["psi"].add_metric(values, state.comparison.psi)
            families["degraded"].add_metric(values, 1.0 if state.degraded else 0.0)
        yield first_seen
        yield from families.values()
        yield from self._questions()
        dropped = CounterMetricFamily(
            c.METRIC_DRIFT_DROPPED, "Values not tracked because the drift monitor is at its series bound"
        )
        dropped.add_metric([], self._monitor.dropped)
        yield dropped

    def _questions(self) -> Iterator[GaugeMetricFamily]:
        labels = [c.LABEL_SERVICE, c.LABEL_MODEL, "baseline"]
        p_value = GaugeMetricFamily(
            c.METRIC_QUESTION_DRIFT_P_VALUE,
            "Permutation-test p-value of the questions against the baseline",
            labels=labels,
        )
        distance = GaugeMetricFamily(
            c.METRIC_QUESTION_DRIFT_DISTANCE, "1 - cosine similarity of the mean question vectors", labels=labels
        )
        drifted = GaugeMetricFamily(
            c.METRIC_QUESTION_DRIFT_DETECTED,
            "1 when the questions differ significantly from the baseline",
            labels=labels,
        )
        for service, model in self._monitor.question_series():
            state = self._monitor.question_state(service, model)
            if state.comparison is None:
                continue
            values = [service, model, state.baseline]
            p_value.add_metric(values, state.comparison.p_value)
            distance.add_metric(values, state.comparison.distance)
            drifted.add_metric(values, 1.0 if state.drifted else 0.0)
        yield from (p_value, distance, drifted)


def _verdict(passed: bool) -> str:
    return "pass" if passed else "fail"


class CalibrationCollector(Collector):
    """Human verdicts against the automated ones: counters (every combination per (service, evaluation)
    exported, zeros included, so agreement ratios over any range exist), and the agreement over the
    monitor's recent window."""

    def __init__(self, monitor: CalibrationMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counts, unmatched, pending = self._monitor.snapshot()
        verdicts = CounterMetricFamily(
            c.METRIC_HUMAN_VERDICTS,
            "Human verdicts matched with the automated verdict on the same answer",
            labels=[c.LABEL_SERVICE, c.LABEL_EVALUATION, "human", "automated", "agreement"],
        )
        pairs = sorted({(service, evaluation) for service, evaluation, _, _ in counts})
        for service, evaluation in pairs:
            for human in (True, False):
                for automated in (True, False):
                    agreement = "agree" if human == automated else "disagree"
                    verdicts.add_metric(
                        [service, evaluation, _verdict(human), _verdict(automated), agreement],
                        counts.get((service, evaluation, human, automated), 0),
                    )
        yield verdicts
        lost = CounterMetricFamily(
            c.METRIC_HUMAN_VERDICTS_UNMATCHED,
            "Human verdicts with no automated verdict to compare with",
            labels=[c.LABEL_REASON],
        )
        for reason, count in sorted(unmatched.items()):
            lost.add_metric([reason], count)
        yield lost
        waiting = GaugeMetricFamily(c.METRIC_HUMAN_VERDICTS_PENDING, "Human verdicts waiting for their trace's scores")
        waiting.add_metric([], pending)
        yield waiting
        labels = [c.LABEL_SERVICE, c.LABEL_EVALUATION]
        ratio = GaugeMetricFamily(
            c.METRIC_HUMAN_AGREEMENT_RATIO, "Share of the recent human verdicts the scorer agrees with", labels=labels
        )
        kappa = GaugeMetricFamily(
            c.METRIC_HUMAN_AGREEMENT_KAPPA, "Cohen's kappa of scorer and human over the recent verdicts", labels=labels
        )
        size = GaugeMetricFamily(c.METRIC_HUMAN_AGREEMENT_WINDOW, "Human verdicts in the recent window", labels=labels)
        for service, evaluation in self._monitor.calibrated():
            result = self._monitor.agreement(service, evaluation)
            ratio.add_metric([service, evaluation], result.ratio)
            kappa.add_metric([service, evaluation], result.kappa)
            size.add_metric([service, evaluation], result.verdicts)
        yield from (ratio, kappa, size)


@dataclass(frozen=True)
class BehaviourMonitors:
    drift: DriftMonitor
    calibration: CalibrationMonitor


def add_behaviour_monitors(
    pipeline: ScoringPipeline,
    registry: CollectorRegistry,
    feedback_traces: int = 20_000,
    labels: LabelBounds | None = None,
) -> BehaviourMonitors:
    """Drift and human calibration as sinks of the pipeline, with their metrics on the registry: the
    same wiring for the embedded processor and `mre serve`; ``labels`` are the PrometheusSink's bounds."""
    labels = labels or LabelBounds()
    monitors = BehaviourMonitors(
        DriftMonitor(labels=labels), CalibrationMonitor(pipeline.slos, max_traces=feedback_traces, labels=labels)
    )
    pipeline.sinks.extend((monitors.drift, monitors.calibration))
    registry.register(DriftCollector(monitors.drift))
    registry.register(CalibrationCollector(monitors.calibration))
    return monitors
