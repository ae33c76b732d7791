"""Prometheus rules from the SLO file: Sloth-compatible recording rules and multiwindow,
multi-burn-rate alerts (SRE workbook: page 1h/5m at 14.4x and 6h/30m at 6x; ticket 1d/2h at 3x and
3d/6h at 1x).

Rule names and labels are Sloth's (``slo:sli_error:ratio_rate5m``, ``sloth_id``, ``sloth_service``,
``sloth_slo``, ``sloth_window``...), so Sloth's public Grafana dashboards read them too. The SLI is
``mre_slo_events_total{outcome="bad"}`` over all events of the SLO. Pure functions: spec in, rule
file structure out; the CLI writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mre import semconv as sc
from mre.slo_spec import SLOFile, SLOSpec

SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, [(short, long, burn factor)]) per the SRE workbook, as Sloth generates them.
ALERT_WINDOWS = (
    ("page", (("5m", "1h", 14.4), ("30m", "6h", 6.0))),
    ("ticket", (("2h", "1d", 3.0), ("6h", "3d", 1.0))),
)
EVENTS_METRIC = f"{sc.METRIC_SLO_EVENTS}_total"
FAILURES_METRIC = f"{sc.METRIC_FAILURES}_total"

# First steps for the on-call engineer, by the triaged cause of the failures behind the burn.
RUNBOOK_BY_CAUSE = {
    "context": "Retrieval is the problem (stale, unapproved, conflicting or irrelevant sources): check index "
    "freshness, recent re-indexing and the freshness/conflicting_sources scores; roll back the index if it changed.",
    "generation": "Good context, unfaithful answers: compare mre_evaluation_score by model (a new model version?), "
    "recent prompt changes and temperature; pin the previous model if the change is recent.",
    "harness": "A guardrail passed what the scores reject: check the guardrail's configuration and verdicts "
    '(mre_failures_total{cause="harness"}) and any post-processing step.',
    "coverage": "Questions nothing in the corpus answers are being answered anyway: check the abstention instruction "
    "and which topics are missing from the corpus.",
    "abstention": "Needless abstentions: retrieval finds the answer but the model declines; check the prompt's "
    "abstention wording and the context format.",
}


def _selector(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _sloth_labels(file: SLOFile, spec: SLOSpec) -> dict[str, str]:
    return {
        "sloth_id": f"{file.service}-{spec.slo.name}",
        "sloth_service": file.service,
        "sloth_slo": spec.slo.name,
    }


def _event_selector(file: SLOFile, spec: SLOSpec, outcome: str | None) -> str:
    labels = {sc.LABEL_SERVICE: file.service, sc.LABEL_SLO: spec.slo.name, **spec.filters}
    if outcome:
        labels[sc.LABEL_OUTCOME] = outcome
    return _selector(labels)


def _budget(spec: SLOSpec) -> float:
    return round(1.0 - spec.slo.objective, 10)


def sli_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    base = {**file.labels, **_sloth_labels(file, spec)}
    bad, total = _event_selector(file, spec, "bad"), _event_selector(file, spec, None)
    rules: list[dict[str, Any]] = []
    for window in SLI_WINDOWS:
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                # "or vector(0)": an SLO with no bad event yet has no bad series at all; its SLI is 0.
                "expr": f"(sum(rate({EVENTS_METRIC}{bad}[{window}])) or on() vector(0))\n/\n"
                f"(sum(rate({EVENTS_METRIC}{total}[{window}])))\n",
                "labels": {**base, "sloth_window": window},
            }
        )
    period = f"{spec.slo.window_days}d"
    sel = _selector(_sloth_labels(file, spec))
    rules.append(
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (sloth_window)\n"
            f"count_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n",
            "labels": {**base, "sloth_window": period},
        }
    )
    return rules


def meta_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    base = {**file.labels, **_sloth_labels(file, spec)}
    sel = _selector(_sloth_labels(file, spec))
    period = f"{spec.slo.window_days}d"
    join = "on(sloth_id, sloth_slo, sloth_service) group_left"
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({spec.slo.objective!r})", "labels": base},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{spec.slo.objective!r})", "labels": base},
        {"record": "slo:time_period:days", "expr": f"vector({spec.slo.window_days})", "labels": base},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{sel}\n/ {join}\nslo:error_budget:ratio{sel}\n",
            "labels": base,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate{period}{sel}\n/ {join}\nslo:error_budget:ratio{sel}\n",
            "labels": base,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{sel}",
            "labels": base,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                **base,
                "sloth_mode": "mre",
                "sloth_objective": f"{spec.slo.objective * 100:g}",
                "mre_evaluation": spec.slo.scorer,
                "mre_threshold": f"{spec.slo.threshold:g}",
            },
        },
    ]


def alert_rules(file: SLOFile, spec: SLOSpec) -> list[dict[str, Any]]:
    sel = _selector(_sloth_labels(file, spec))
    budget = _budget(spec)
    routing = spec.alerting
    cause_query = f'topk(1, sum by (cause) (increase({FAILURES_METRIC}{{service="{file.service}"}}[1h])))'
    runbook = "\n".join(f"- {cause}: {steps}" for cause, steps in RUNBOOK_BY_CAUSE.items())
    rules = []
    for severity, windows in ALERT_WINDOWS:
        extra = routing.page_labels if severity == "page" else routing.ticket_labels
        if extra is None:
            continue
        terms = [
            f"(\n    max(slo:sli_error:ratio_rate{short}{sel} > ({factor:g} * {budget!r})) without (sloth_window)\n"
            f"    and\n    max(slo:sli_error:ratio_rate{long}{sel} > ({factor:g} * {budget!r}))"
            " without (sloth_window)\n)"
            for short, long, factor in windows
        ]
        annotations = {
            "summary": f"{file.service}: the {spec.slo.name} SLO burns its error budget too fast ({severity})",
            "title": f"({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} "
            "SLO error budget burn rate is too fast.",
            # Evaluated when the alert fires: the cause that dominates the last hour's failures.
            "dominant_cause": f'{{{{ with query "{cause_query.replace(chr(34), chr(92) + chr(34))}" }}}}'
            f"{{{{ with first . }}}}{{{{ .Labels.cause }}}}{{{{ end }}}}{{{{ end }}}}",
            "runbook": (routing.runbook + "\n" if routing.runbook else "")
            + "First steps by dominant cause:\n"
            + runbook,
        }
        rules.append(
            {
                "alert": routing.name,
                "expr": "\nor\n".join(terms) + "\n",
                "labels": {**file.labels, **routing.labels, **extra, "sloth_severity": severity},
                "annotations": annotations,
            }
        )
    return rules


def drift_rules(file: SLOFile) -> dict[str, Any]:
    """Behaviour drift: a model version (or a recent window) scoring significantly worse than its
    baseline for ten minutes is a ticket; whether the questions changed too is in its annotation, so
    the on-call engineer tells a model change from a change in what users ask. A change in the
    question mix alone is information."""
    selector = f'{{service="{file.service}"}}'
    inputs = (
        '{{ with printf "max(mre_question_drift_detected{service=%q, model=%q})" $labels.service $labels.model '
        "| query }}{{ with first . }}{{ if eq .Value 1.0 }}changed: read the score drift with the new mix of "
        "questions in mind{{ else }}unchanged: the model answers the same questions worse{{ end }}{{ end }}"
        "{{ else }}not measured yet{{ end }}"
    )
    return {
        "name": f"mre-drift-{file.service}",
        "rules": [
            {
                "alert": "ModelBehaviourDegraded",
                "expr": f"max by (service, model, evaluation, baseline) (mre_drift_degraded{selector}) == 1",
                "for": "10m",
                "labels": {**file.labels, "severity": "ticket"},
                "annotations": {
                    "summary": "{{ $labels.model }} scores worse on {{ $labels.evaluation }} than its baseline "
                    "({{ $labels.baseline }})",
                    "questions": inputs,
                    "runbook": "Compare the models dashboard; if a new model version caused it, pin the previous "
                    "version and rerun `mre eval` on a labelled set before upgrading again.",
                },
            },
            {
                "alert": "QuestionMixChanged",
                "expr": f"max by (service, model, baseline) (mre_question_drift_detected{selector}) == 1",
                "for": "30m",
                "labels": {**file.labels, "severity": "info"},
                "annotations": {
                    "summary": "{{ $labels.service }} gets a different mix of questions than its baseline "
                    "({{ $labels.baseline }})",
                    "runbook": "New topics may lack documents (watch the coverage cause) or need new SLO filters; "
                    "score drift in the same window may come from the questions rather than the model.",
                },
            },
        ],
    }


def calibration_rules(file: SLOFile) -> dict[str, Any]:
    """Agreement between human verdicts and each scorer over the calibration window (summed over
    replicas), a ticket when it falls below the minimum with enough verdicts, and one when no human
    verdict has arrived for ``stale_after`` although verdicts were sent before."""
    c = file.calibration
    window = f"{c.window_days}d"
    metric = f'mre_human_verdicts_total{{service="{file.service}"'
    ratio, count = f"mre:human_agreement:ratio_{window}", f"mre:human_verdicts:increase_{window}"
    selector = f'{{service="{file.service}"}}'
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
                f"sum by (service, evaluation) (increase({metric}}}[{window}]))",
                "labels": dict(file.labels),
            },
            {
                "alert": "ScorerDisagreesWithHumans",
                "expr": f"{ratio}{selector} < {c.min_agreement:g}\nand on (service, evaluation)\n"
                f"{count}{selector} >= {c.min_verdicts}",
                "for": "1h",
                "labels": {**file.labels, "severity": "ticket"},
                "annotations": {
                    "summary": "{{ $labels.evaluation }} agrees with only {{ $value | humanizePercentage }} of the "
                    f"human verdicts over {window} (minimum {c.min_agreement:.0%})",
                    "runbook": "Read the disagreeing traces (mre_human_verdicts_total by human/automated); if people "
                    "are right, recalibrate the scorer's threshold or add a judge; if the scorer is, brief the "
                    "reviewers.",
                },
            },
            {
                "alert": "HumanCalibrationStale",
                "expr": f"sum by (service) (increase({metric}}}[{c.stale_after_days}d])) == 0",
                "for": "1h",
                "labels": {**file.labels, "severity": "ticket"},
                "annotations": {
                    "summary": f"no human verdict for {{{{ $labels.service }}}} in {c.stale_after_days} days: the "
                    "automated scores are not being checked",
                    "runbook": "Resume the review queue (mre.feedback on a sample of answers).",
                },
            },
        ],
    }


def build_rules(file: SLOFile) -> dict[str, Any]:
    """The rule file: per SLO the three groups Sloth makes (SLI, meta, alerts), then drift."""
    groups = []
    for spec in file.slos:
        slo_id = f"{file.service}-{spec.slo.name}"
        groups.append({"name": f"sloth-slo-sli-recordings-{slo_id}", "rules": sli_rules(file, spec)})
        groups.append({"name": f"sloth-slo-meta-recordings-{slo_id}", "rules": meta_rules(file, spec)})
        alerts = alert_rules(file, spec)
        if alerts:
            groups.append({"name": f"sloth-slo-alerts-{slo_id}", "rules": alerts})
    groups.append(drift_rules(file))
    groups.append(calibration_rules(file))
    return {"groups": groups}
