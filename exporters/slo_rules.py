"""Prometheus rules from the SLO file: Sloth-compatible recording rules, multiwindow multi-burn-rate
alerts with factors derived from each SLO's period (:mod:`mre.slo_windows`), dead-SLI alerts, drift
and human-calibration alerts.

Rule and label names are Sloth's (:mod:`mre.exporters.conventions`), so Sloth's Grafana
dashboards read them too. Three things differ from Sloth, each because Sloth's rule is wrong on the
traffic an LLM service has:

- the period SLI is traffic-weighted: bad and all events per second are recorded every evaluation
  and their sums over the period divided (Pyrra's and Sloth's denominator-corrected way), so a quiet
  hour weighs as little as its events, instead of the mean of 5-minute ratios;
- a window without events yields no ratio ("no data") rather than 0/0 = NaN, which
  ``sum_over_time`` would carry for the whole period;
- the burn factors spend 2 % / 5 % / 10 % of the budget of the SLO's own period, not of 30 days.

Pure functions: spec in, rule file structure out; the CLI writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mre.exporters import conventions as c
from mre.slo_spec import SLOFile, SLOSpec
from mre.slo_windows import PAGE, REPORT_WINDOWS, SLI_WINDOWS, TICKET, windows

WINDOW_TEMPLATE = "{{.window}}"  # Sloth's placeholder in an events SLI's queries

# First steps for the on-call engineer, by the triaged cause of the failures behind the burn.
RUNBOOK_BY_CAUSE = {
    "context": "Retrieval is the problem (stale, unapproved, conflicting or irrelevant sources): check index "
    "freshness, recent re-indexing and the freshness/conflicting_sources scores; roll back the index if it changed.",
    "generation": f"Good context, unfaithful answers: compare {c.METRIC_EVALUATION_SCORE} by model "
    "(a new model version?), recent prompt changes and temperature; pin the previous model if the change is recent.",
    "harness": "A guardrail passed what the scores reject: check the guardrail's configuration and verdicts "
    f'({c.METRIC_FAILURES}_total{{cause="harness"}}) and any post-processing step.',
    "coverage": "Questions nothing in the corpus answers are being answered anyway: check the abstention instruction "
    "and which topics are missing from the corpus.",
    "abstention": "Needless abstentions: retrieval finds the answer but the model declines; check the prompt's "
    "abstention wording and the context format.",
}
# Each alert's dominant cause is read over its fastest long window.
CAUSE_WINDOW = {PAGE: "1h", TICKET: "1d"}


def label_matcher(name: str, value: str) -> str:
    """``name="value"`` with the value quoted as PromQL reads a double-quoted string: a value
    holding a quote or a backslash (a service name given to `mre slo status`) selects that value
    instead of breaking, or widening, the query."""
    quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{quoted}"'


def selector(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(label_matcher(k, v) for k, v in sorted(labels.items())) + "}"


def slo_id(file: SLOFile, spec: SLOSpec) -> str:
    return f"{file.service}-{spec.slo.name}"


def sloth_labels(file: SLOFile, spec: SLOSpec) -> dict[str, str]:
    return {c.SLOTH_ID: slo_id(file, spec), c.SLOTH_SERVICE: file.service, c.SLOTH_SLO: spec.slo.name}


def _base_labels(file: SLOFile, spec: SLOSpec) -> dict[str, str]:
    return {**file.labels, **spec.labels, **sloth_labels(file, spec)}


def event_labels(file: SLOFile, spec: SLOSpec) -> dict[str, str]:
    """The ``mre_slo_events_total`` labels that select this SLO's events (before ``outcome``)."""
    return {c.LABEL_SERVICE: file.service, c.LABEL_SLO: spec.slo.name, **spec.filters}


def sli_queries(file: SLOFile, spec: SLOSpec) -> tuple[str, str]:
    """(bad events per second, all events per second), with Sloth's ``{{.window}}`` placeholder."""
    if spec.external is not None:
        return spec.external.error_query, spec.external.total_query
    labels = event_labels(file, spec)
    bad = selector({**labels, c.LABEL_OUTCOME: "bad"})
    return (
        f"sum(rate({c.EVENTS_METRIC}{bad}[{WINDOW_TEMPLATE}]))",
        f"sum(rate({c.EVENTS_METRIC}{selector(labels)}[{WINDOW_TEMPLATE}]))",
    )


def _at(query: str, window: str) -> str:
    return query.replace(WINDOW_TEMPLATE, window)


def _bad_or_zero(bad: str, total: str) -> str:
    # A label set whose bad series does not exist yet (an older exporter, an external metric) has 0
    # bad events while it has any events at all, and nothing when it has none.
    return f"(\n  {bad}\n  or on() 0 * {total}\n)"


def sli_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    base = _base_labels(file, spec)
    bad_q, total_q = sli_queries(file, spec)
    rules: list[dict[str, Any]] = []
    bad5, total5 = _at(bad_q, "5m"), _at(total_q, "5m")
    rules.append(
        {
            "record": c.bad_events_rate("5m"),
            "expr": _bad_or_zero(bad5, total5) + "\n",
            "labels": {**base, c.SLOTH_WINDOW: "5m"},
        }
    )
    rules.append({"record": c.events_rate("5m"), "expr": total5 + "\n", "labels": {**base, c.SLOTH_WINDOW: "5m"}})
    for window in SLI_WINDOWS:
        bad, total = _at(bad_q, window), _at(total_q, window)
        rules.append(
            {
                "record": c.sli_error(window),
                # "> 0": a window without events has no ratio (no data), never 0/0 = NaN.
                "expr": f"{_bad_or_zero(bad, total)}\n/\n({total} > 0)\n",
                "labels": {**base, c.SLOTH_WINDOW: window},
            }
        )
    period = f"{spec.slo.window_days}d"
    sel = selector(sloth_labels(file, spec))
    for window in (period, *(w for w in REPORT_WINDOWS if w != period)):
        rules.append(
            {
                "record": c.sli_error(window),
                # Traffic-weighted: all bad events of the window over all its events.
                "expr": f"sum_over_time({c.bad_events_rate('5m')}{sel}[{window}])\n/ ignoring ({c.SLOTH_WINDOW})\n"
                f"(sum_over_time({c.events_rate('5m')}{sel}[{window}]) > 0)\n",
                "labels": {**base, c.SLOTH_WINDOW: window},
            }
        )
    return rules


def meta_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    base = _base_labels(file, spec)
    sel = selector(sloth_labels(file, spec))
    period = f"{spec.slo.window_days}d"
    join = f"on({', '.join(c.SLO_KEY_LABELS)}) group_left"
    return [
        {"record": c.OBJECTIVE, "expr": f"vector({spec.slo.objective!r})", "labels": base},
        {"record": c.ERROR_BUDGET, "expr": f"vector(1-{spec.slo.objective!r})", "labels": base},
        {"record": c.TIME_PERIOD_DAYS, "expr": f"vector({spec.slo.window_days})", "labels": base},
        {
            "record": c.CURRENT_BURN_RATE,
            "expr": f"{c.sli_error('5m')}{sel}\n/ {join}\n{c.ERROR_BUDGET}{sel}\n",
            "labels": base,
        },
        {
            "record": c.PERIOD_BURN_RATE,
            "expr": f"{c.sli_error(period)}{sel}\n/ {join}\n{c.ERROR_BUDGET}{sel}\n",
            "labels": base,
        },
        {"record": c.PERIOD_BUDGET_REMAINING, "expr": f"1 - {c.PERIOD_BURN_RATE}{sel}", "labels": base},
        {
            "record": c.SLO_INFO,
            "expr": "vector(1)",
            "labels": {
                **base,
                c.SLOTH_MODE: "mre",
                c.SLOTH_OBJECTIVE: f"{spec.slo.objective * 100:g}",
                c.LABEL_RULE_EVALUATION: spec.slo.scorer,
                c.LABEL_RULE_THRESHOLD: f"{spec.slo.threshold:g}",
            },
        },
    ]


def _query_annotation(query: str, template: str) -> str:
    escaped = query.replace('"', '\\"')
    return f'{{{{ with query "{escaped}" }}}}{template}{{{{ end }}}}'


def _annotations(file: SLOFile, spec: SLOSpec, severity: str, terms: list[tuple[str, str, float]]) -> dict[str, str]:
    routing = spec.alerting
    budget = round(1.0 - spec.slo.objective, 10)
    spend = ", ".join(f"{factor:.3g}x over {long} and {short}" for short, long, factor in terms)
    annotations = {
        "summary": f"{file.service}: the {spec.slo.name} SLO burns its error budget too fast ({severity})",
        "title": f"({severity}) {{{{$labels.{c.SLOTH_SERVICE}}}}} {{{{$labels.{c.SLOTH_SLO}}}}} "
        "SLO error budget burn rate is too fast.",
        "description": (routing.runbook + "\n" if routing.runbook else "")
        + f"Error ratio above the budget ({budget:g}) times {spend}.\n",
    }
    if spec.evaluated_by_mre:  # causes exist only for SLIs mre scores
        annotations["description"] += "First steps by dominant cause:\n" + "\n".join(
            f"- {k}: {v}" for k, v in RUNBOOK_BY_CAUSE.items()
        )
        window = CAUSE_WINDOW[severity]
        labels = selector({c.LABEL_SERVICE: file.service, c.LABEL_SLO: spec.slo.name})
        query = f"topk(1, sum by ({c.LABEL_CAUSE}) (increase({c.SLO_FAILURES_METRIC}{labels}[{window}])))"
        # Evaluated when the alert fires: the cause that dominates this SLO's own failures.
        annotations["dominant_cause"] = _query_annotation(query, "{{ with first . }}{{ .Labels.cause }}{{ end }}")
    if routing.runbook_url:
        annotations["runbook_url"] = routing.runbook_url
    return {**annotations, **routing.annotations}


def alert_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    sel = selector(sloth_labels(file, spec))
    budget = round(1.0 - spec.slo.objective, 10)
    routing = spec.alerting
    by_severity: dict[str, list[tuple[str, str, float]]] = {}
    for window, factor in windows(spec.slo.window_days):
        by_severity.setdefault(window.severity, []).append((window.short, window.long, factor))
    rules = []
    for severity, terms in by_severity.items():
        extra = routing.page_labels if severity == PAGE else routing.ticket_labels
        if extra is None:
            continue
        expr = "\nor\n".join(
            f"(\n    max({c.sli_error(short)}{sel} > ({factor!r} * {budget!r})) without ({c.SLOTH_WINDOW})\n"
            f"    and\n    max({c.sli_error(long)}{sel} > ({factor!r} * {budget!r})) without ({c.SLOTH_WINDOW})\n)"
            for short, long, factor in terms
        )
        rules.append(
            {
                "alert": routing.name,
                "expr": expr + "\n",
                "labels": {**file.labels, **spec.labels, **routing.labels, **extra, c.SLOTH_SEVERITY: severity},
                "annotations": _annotations(file, spec, severity, terms),
            }
        )
    return rules


def _duration(minutes: int) -> str:
    return f"{minutes // 1440}d" if minutes % 1440 == 0 else f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def no_data_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    """A dead SLI is an alert, not a green SLO: no event series at all (nothing was ever measured,
    or mre is not scraped), or answers still counted while this SLO gets no event (a scorer that stopped
    scoring, content capture switched off, a route renamed)."""
    if spec.no_data_minutes is None or not spec.evaluated_by_mre:
        return []
    after = _duration(spec.no_data_minutes)
    events = f"{c.EVENTS_METRIC}{selector(event_labels(file, spec))}"
    answers = {
        c.LABEL_SERVICE: file.service,
        **({c.LABEL_MODEL: spec.filters["model"]} if "model" in spec.filters else {}),
    }
    routing = spec.alerting
    labels = {
        **file.labels,
        **spec.labels,
        **routing.labels,
        **(routing.ticket_labels or {c.LABEL_SEVERITY_PLAIN: TICKET}),
        **sloth_labels(file, spec),
    }
    extra = {"runbook_url": routing.runbook_url} if routing.runbook_url else {}
    return [
        {
            "alert": c.ALERT_EVENTS_ABSENT,
            "expr": f"absent({events})",
            "for": after,
            "labels": labels,
            "annotations": {
                "summary": f"{file.service}: the {spec.slo.name} SLO has no events at all: it measures nothing",
                "description": f"No {c.METRIC_SLO_EVENTS}_total series for this SLO: mre is not scraped, the "
                "service sends no traces to it, or no answer could ever be scored for it "
                f"({c.METRIC_SCORER_SKIPPED}_total says why).",
                **extra,
            },
        },
        {
            "alert": c.ALERT_EVENTS_STOPPED,
            "expr": f"sum(increase({events}[{after}])) == 0\nand on()\n"
            f"sum(increase({c.INTERACTIONS_METRIC}{selector(answers)}[{after}])) > 0",
            "for": "5m",
            "labels": labels,
            "annotations": {
                "summary": f"{file.service}: answers are scored but the {spec.slo.name} SLO got no event for {after}",
                "description": "The service still answers, but nothing counts for this SLO: read "
                f"{c.METRIC_SCORER_SKIPPED}_total and {c.METRIC_INTERACTIONS_UNSCORED}_total by reason.",
                **extra,
            },
        },
    ]


def drift_rules(file: SLOFile) -> dict[str, Any]:
    """Behaviour drift: a model version (or a recent window) scoring significantly worse than its
    baseline for ten minutes is a ticket; whether the questions changed too is in its annotation, so
    the on-call engineer tells a model change from a change in what users ask. A change in the
    question mix alone is information."""
    svc = selector({c.LABEL_SERVICE: file.service})
    inputs = (
        f'{{{{ with printf "max({c.METRIC_QUESTION_DRIFT_DETECTED}{{service=%q, model=%q}})" '
        "$labels.service $labels.model "
        "| query }}{{ with first . }}{{ if eq .Value 1.0 }}changed: read the score drift with the new mix of "
        "questions in mind{{ else }}unchanged: the model answers the same questions worse{{ end }}{{ end }}"
        "{{ else }}not measured yet{{ end }}"
    )
    return {
        "name": f"mre-drift-{file.service}",
        "rules": [
            {
                "alert": "ModelBehaviourDegraded",
                "expr": f"max by (service, model, evaluation, baseline) ({c.METRIC_DRIFT_DEGRADED}{svc}) == 1",
                "for": "10m",
                "labels": {**file.labels, "severity": "ticket"},
                "annotations": {
                    "summary": "{{ $labels.model }} scores worse on {{ $labels.evaluation }} than its baseline "
                    "({{ $labels.baseline }})",
                    "questions": inputs,
                    "description": "Compare the models dashboard; if a new model version caused it, pin the previous "
                    "version and rerun `mre eval` on a labelled set before upgrading again.",
                },
            },
            {
                "alert": "QuestionMixChanged",
                "expr": f"max by (service, model, baseline) ({c.METRIC_QUESTION_DRIFT_DETECTED}{svc}) == 1",
                "for": "30m",
                "labels": {**file.labels, "severity": "info"},
                "annotations": {
                    "summary": "{{ $labels.service }} gets a different mix of questions than its baseline "
                    "({{ $labels.baseline }})",
                    "description": "New topics may lack documents (watch the coverage cause) or need new SLO filters; "
                    "score drift in the same window may come from the questions rather than the model.",
                },
            },
        ],
    }


def calibration_rules(file: SLOFile) -> dict[str, Any]:
    """Agreement between human verdicts and each scorer over the calibration window (summed over
    replicas), a ticket when it falls below the minimum with enough verdicts, and one when no human
    verdict has arrived for ``stale_after`` (``absent``: also when none ever did)."""
    cal = file.calibration
    window = f"{cal.window_days}d"
    metric = f'{c.HUMAN_VERDICTS_METRIC}{{service="{file.service}"'
    ratio, count = f"mre:human_agreement:ratio_{window}", f"mre:human_verdicts:increase_{window}"
    svc = selector({c.LABEL_SERVICE: file.service})
    return {
        "name": f"mre-calibration-{file.service}",
        "rules": [
            {
                "record": count,
                "expr": f"sum by (service, evaluation) (increase({metric}}}[{window}]))",
                "labels": dict(file.labels),
            },
            {
                "record": ratio,
                "expr": f'sum by (service, evaluation) (increase({metric}, agreement="agree"}}[{window}]))\n/\n'
                f"(sum by (service, evaluation) (increase({metric}}}[{window}])) > 0)",
                "labels": dict(file.labels),
            },
            {
                "alert": "ScorerDisagreesWithHumans",
                "expr": f"{ratio}{svc} < {cal.min_agreement:g}\nand on (service, evaluation)\n"
                f"{count}{svc} >= {cal.min_verdicts}",
                "for": "1h",
                "labels": {**file.labels, "severity": "ticket"},
                "annotations": {
                    "summary": "{{ $labels.evaluation }} agrees with only {{ $value | humanizePercentage }} of the "
                    f"human verdicts over {window} (minimum {cal.min_agreement:.0%})",
                    "description": f"Read the disagreeing traces ({c.METRIC_HUMAN_VERDICTS}_total by human/automated); "
                    "if people are right, recalibrate the scorer's threshold or add a judge; if the scorer is, "
                    "brief the reviewers.",
                },
            },
            {
                "alert": "HumanCalibrationStale",
                "expr": f"sum by (service) (increase({metric}}}[{cal.stale_after_days}d])) == 0\n"
                f"or\nabsent({metric}}})",
                "for": "1h",
                "labels": {**file.labels, "severity": "ticket"},
                "annotations": {
                    "summary": f"no human verdict for {{{{ $labels.service }}}} in {cal.stale_after_days} days "
                    "(or ever): the automated scores are not being checked",
                    "description": "Resume the review queue (mre.feedback on a sample of answers), or set "
                    "`calibration: {disable: true}` in the SLO file if nobody reviews answers.",
                },
            },
        ],
    }


def processor_rules(file: SLOFile) -> dict[str, Any]:
    """The pipeline itself: traces scored without all their spans (split across replicas by a
    trace-unaware load balancer, or roots that never arrive) make every SLO read partial answers."""
    incomplete = f"sum(rate({c.METRIC_TRACES_INCOMPLETE}_total[15m]))"
    scored = f"sum(rate({c.INTERACTIONS_METRIC}[15m]))"
    return {
        "name": "mre-processor-health",
        "rules": [
            {
                "alert": "TracesScoredIncomplete",
                "expr": f"{incomplete}\n/\n({scored} > 0)\n> 0.1",
                "for": "15m",
                "labels": {**file.labels, c.LABEL_SEVERITY_PLAIN: TICKET},
                "annotations": {
                    "summary": "{{ $value | humanizePercentage }} of traces are scored without all their spans",
                    "description": f"{c.METRIC_TRACES_INCOMPLETE}_total by reason: root_never_seen means the "
                    "traces' roots went elsewhere (route by trace id: the collector's loadbalancing exporter with "
                    "routing_key traceID, never a round-robin balancer) or arrive after --trace-timeout; "
                    "missing_parent means an instrumentation does not export some spans.",
                },
            }
        ],
    }


def build_rules(file: SLOFile) -> dict[str, Any]:
    """The rule file: per SLO the three groups Sloth makes (SLI, meta, alerts) and its no-data
    alerts, then drift and calibration."""
    groups = []
    for spec in file.slos:
        ident = slo_id(file, spec)
        groups.append({"name": c.GROUP_SLI.format(id=ident), "rules": sli_rules(file, spec)})
        groups.append({"name": c.GROUP_META.format(id=ident), "rules": meta_rules(file, spec)})
        alerts = alert_rules(file, spec)
        if alerts:
            groups.append({"name": c.GROUP_ALERTS.format(id=ident), "rules": alerts})
        no_data = no_data_rules(file, spec)
        if no_data:
            groups.append({"name": c.GROUP_NO_DATA.format(id=ident), "rules": no_data})
    if any(spec.evaluated_by_mre for spec in file.slos):
        groups.append(drift_rules(file))
        if file.calibration.enabled:
            groups.append(calibration_rules(file))
        groups.append(processor_rules(file))
    return {"groups": groups}
