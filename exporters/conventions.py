"""Every metric, label, recording-rule, alert and group name mre exposes or reads: the Prometheus sink
and the collectors, the SLO rules, the dashboards and `mre slo status` spell them from here (as Sloth
keeps its names in ``internal/prometheus/conventions.go``): one place to rename, nothing spelled twice.

Sloth's names are kept where Sloth has one, so its dashboards (grafana.com 14348, 14643) read mre's
rules; the two event-rate records are mre's, for the traffic-weighted period SLI.
"""

from __future__ import annotations

from typing import Final

# --- mre's metrics (the processor's exporter, mre.exporters.prometheus) ------------------------
# Behaviour: what the SLO rules and dashboards are built on.
METRIC_INTERACTIONS: Final = "mre_interactions"  # counter
METRIC_EVALUATION_SCORE: Final = "mre_evaluation_score"  # histogram, exemplars carry trace ids
METRIC_SLO_EVENTS: Final = "mre_slo_events"  # counter: good and bad events per SLO
METRIC_FAILURES: Final = "mre_failures"  # counter, by triaged cause
# Bad events of each SLO by the triaged cause of their answer: what a burning SLO's alert names.
METRIC_SLO_FAILURES: Final = "mre_slo_failures"
# Answers not fully scored, by reason (mre.processor.coverage); scorers that gave no score, by reason.
METRIC_INTERACTIONS_UNSCORED: Final = "mre_interactions_unscored"
METRIC_SCORER_SKIPPED: Final = "mre_scorer_skipped"
METRIC_JUDGE_DECISIONS: Final = "mre_judge_decisions"
METRIC_SERIES_OVERFLOW: Final = "mre_metrics_series_overflow"
# The processor's health.
METRIC_SPANS_RECEIVED: Final = "mre_processor_spans_received"
METRIC_SPANS_DROPPED: Final = "mre_processor_spans_dropped"
METRIC_SPANS_REFUSED: Final = "mre_processor_spans_refused"
METRIC_TRACES_PENDING: Final = "mre_processor_traces_pending"
METRIC_TRACES_INCOMPLETE: Final = "mre_processor_traces_incomplete"
METRIC_PENDING_BYTES: Final = "mre_processor_pending_bytes"
METRIC_QUEUE_SPANS: Final = "mre_processor_queue_spans"
METRIC_QUEUE_BYTES: Final = "mre_processor_queue_bytes"
METRIC_SCORER_ERRORS: Final = "mre_processor_scorer_errors"
METRIC_CONTENT_TRUNCATED: Final = "mre_processor_content_truncated"
METRIC_BAD_INPUT: Final = "mre_processor_bad_input"
METRIC_IGNORED: Final = "mre_processor_ignored"
METRIC_CPU_SECONDS: Final = "mre_processor_cpu_seconds"  # counter, by the worker's step
LABEL_STEP: Final = "step"
METRIC_SCORING_DURATION: Final = "mre_processor_scoring_duration_seconds"
# Forwarding downstream.
METRIC_FORWARD_SENT: Final = "mre_forward_sent"
METRIC_FORWARD_DROPPED: Final = "mre_forward_dropped"
METRIC_FORWARD_RETRIES: Final = "mre_forward_retries"
METRIC_FORWARD_QUEUE_ITEMS: Final = "mre_forward_queue_items"
METRIC_FORWARD_QUEUE_BYTES: Final = "mre_forward_queue_bytes"
# Drift of scores and of questions.
METRIC_DRIFT_P_VALUE: Final = "mre_drift_p_value"
METRIC_DRIFT_MEAN_DIFFERENCE: Final = "mre_drift_mean_difference"
METRIC_DRIFT_PSI: Final = "mre_drift_psi"
METRIC_DRIFT_DEGRADED: Final = "mre_drift_degraded"
METRIC_DRIFT_DROPPED: Final = "mre_drift_dropped"
METRIC_MODEL_FIRST_SEEN: Final = "mre_model_first_seen_timestamp_seconds"
METRIC_QUESTION_DRIFT_P_VALUE: Final = "mre_question_drift_p_value"
METRIC_QUESTION_DRIFT_DISTANCE: Final = "mre_question_drift_distance"
METRIC_QUESTION_DRIFT_DETECTED: Final = "mre_question_drift_detected"
# Human verdicts against the scorers.
METRIC_HUMAN_VERDICTS: Final = "mre_human_verdicts"
METRIC_HUMAN_VERDICTS_UNMATCHED: Final = "mre_human_verdicts_unmatched"
METRIC_HUMAN_VERDICTS_PENDING: Final = "mre_human_verdicts_pending"
METRIC_HUMAN_AGREEMENT_RATIO: Final = "mre_human_agreement_ratio"
METRIC_HUMAN_AGREEMENT_KAPPA: Final = "mre_human_agreement_kappa"
METRIC_HUMAN_AGREEMENT_WINDOW: Final = "mre_human_agreement_window_verdicts"

# mre's labels.
LABEL_SERVICE: Final = "service"
LABEL_MODEL: Final = "model"
LABEL_EVALUATION: Final = "evaluation"
LABEL_SLO: Final = "slo"
LABEL_OUTCOME: Final = "outcome"
LABEL_REASON: Final = "reason"
LABEL_CAUSE: Final = "cause"
LABEL_ROUTE: Final = "route"
# Labels the SLI recording rules add: which evaluation and threshold an SLO reads.
LABEL_RULE_EVALUATION: Final = "mre_evaluation"
LABEL_RULE_THRESHOLD: Final = "mre_threshold"


def total(counter: str) -> str:
    """A counter as Prometheus exposes it (``_total``)."""
    return f"{counter}_total"


# --- Sloth's labels and records ------------------------------------------------------------------
SLOTH_ID: Final = "sloth_id"
SLOTH_SERVICE: Final = "sloth_service"
SLOTH_SLO: Final = "sloth_slo"
SLOTH_WINDOW: Final = "sloth_window"
SLOTH_SEVERITY: Final = "sloth_severity"
SLOTH_MODE: Final = "sloth_mode"
SLOTH_OBJECTIVE: Final = "sloth_objective"
SLO_KEY_LABELS: Final = (SLOTH_ID, SLOTH_SLO, SLOTH_SERVICE)

SLI_ERROR_FMT: Final = "slo:sli_error:ratio_rate{window}"
OBJECTIVE: Final = "slo:objective:ratio"
ERROR_BUDGET: Final = "slo:error_budget:ratio"
TIME_PERIOD_DAYS: Final = "slo:time_period:days"
CURRENT_BURN_RATE: Final = "slo:current_burn_rate:ratio"
PERIOD_BURN_RATE: Final = "slo:period_burn_rate:ratio"
PERIOD_BUDGET_REMAINING: Final = "slo:period_error_budget_remaining:ratio"
SLO_INFO: Final = "sloth_slo_info"

# mre's records: bad and all events per second over 5 minutes. The period SLI divides their sums over
# the period, so every event weighs the same whatever the traffic of its hour, and idle minutes
# (0 and 0) add nothing instead of a NaN ratio.
BAD_EVENTS_RATE_FMT: Final = "slo:sli_bad_events:rate{window}"
EVENTS_RATE_FMT: Final = "slo:sli_events:rate{window}"

# mre's alerts beside each SLO's burn alerts.
ALERT_EVENTS_ABSENT: Final = "SLOEventsAbsent"  # no event series at all: nothing is measured
ALERT_EVENTS_STOPPED: Final = "SLOEventsStopped"  # answers still counted, this SLO gets no events
LABEL_SEVERITY_PLAIN: Final = "severity"

# Source metrics (the processor's exporter) as exposed by Prometheus.
EVENTS_METRIC: Final = total(METRIC_SLO_EVENTS)
SLO_FAILURES_METRIC: Final = total(METRIC_SLO_FAILURES)
FAILURES_METRIC: Final = total(METRIC_FAILURES)
INTERACTIONS_METRIC: Final = total(METRIC_INTERACTIONS)
HUMAN_VERDICTS_METRIC: Final = total(METRIC_HUMAN_VERDICTS)

# Group names, per SLO id.
GROUP_SLI: Final = "sloth-slo-sli-recordings-{id}"
GROUP_META: Final = "sloth-slo-meta-recordings-{id}"
GROUP_ALERTS: Final = "sloth-slo-alerts-{id}"
GROUP_NO_DATA: Final = "mre-slo-no-data-{id}"


def sli_error(window: str) -> str:
    return SLI_ERROR_FMT.format(window=window)


def bad_events_rate(window: str) -> str:
    return BAD_EVENTS_RATE_FMT.format(window=window)


def events_rate(window: str) -> str:
    return EVENTS_RATE_FMT.format(window=window)
