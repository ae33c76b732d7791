"""Every recording-rule, alert and label name the SLO rules, dashboards and status read (as Sloth
keeps them in ``internal/prometheus/conventions.go``): one place to rename, nothing spelled twice.

Sloth's names are kept where Sloth has one, so its dashboards (grafana.com 14348, 14643) read mre's
rules; the two event-rate records are mre's, for the traffic-weighted period SLI.
"""

from __future__ import annotations

from typing import Final

from mre import semconv as sc

# Sloth's labels.
LABEL_ID: Final = "sloth_id"
LABEL_SERVICE: Final = "sloth_service"
LABEL_SLO: Final = "sloth_slo"
LABEL_WINDOW: Final = "sloth_window"
LABEL_SEVERITY: Final = "sloth_severity"
LABEL_MODE: Final = "sloth_mode"
LABEL_OBJECTIVE: Final = "sloth_objective"
SLO_KEY_LABELS: Final = (LABEL_ID, LABEL_SLO, LABEL_SERVICE)

# Sloth's records.
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
EVENTS_METRIC: Final = f"{sc.METRIC_SLO_EVENTS}_total"
SLO_FAILURES_METRIC: Final = f"{sc.METRIC_SLO_FAILURES}_total"
FAILURES_METRIC: Final = f"{sc.METRIC_FAILURES}_total"
INTERACTIONS_METRIC: Final = f"{sc.METRIC_INTERACTIONS}_total"
HUMAN_VERDICTS_METRIC: Final = "mre_human_verdicts_total"

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
