"""Grafana dashboards for the SLO file, built with grafana-foundation-sdk (the Grafana 11.6 flavour,
pinned), plus the provisioning files that load them and an Alertmanager route example.

Dashboards: SLO overview (objective, SLI, budget remaining, burn rates), stages (retrieval,
generation, guardrail), failures by cause, models side by side, processor health. Template
variables for datasource, service, SLO and model; score panels ask for exemplars, which carry trace
ids to jump to traces.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard, gauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from mre.exporters import conventions as c
from mre.processor.scorers import GENERATION, GUARDRAIL, RETRIEVAL, by_stage
from mre.slo_spec import SLOFile
from mre.slo_windows import ALERT_WINDOWS, SLI_WINDOWS

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SLO_SEL = f'{c.SLOTH_SERVICE}="$service", {c.SLOTH_SLO}=~"$slo"'
SVC = f'{c.LABEL_SERVICE}="$service"'
SVC_MODEL = f'{c.LABEL_SERVICE}="$service", {c.LABEL_MODEL}=~"$model"'


def _legend(label: str, suffix: str = "") -> str:
    """A Grafana legend naming a label's value (``{{label}}``), then ``suffix``."""
    return "{{" + label + "}}" + (f" {suffix}" if suffix else "")


LEGEND_SLO = _legend(c.SLOTH_SLO)


def _q(expr: str, ref: str, legend: str = "", exemplar: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
    return query.exemplar(True) if exemplar else query


def _base(title: str, uid: str, tags: list[str], model_variable: bool = False, slo_variable: bool = False) -> Any:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .tags(["mre", *tags])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(_variable("service", "Service", f"label_values({c.METRIC_INTERACTIONS}_total, service)"))
        # Every mre dashboard links to the others, keeping the service, SLO and time range.
        .link(
            dashboard.DashboardLink("mre dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["mre"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    if slo_variable:
        query = f'label_values({c.OBJECTIVE}{{{c.SLOTH_SERVICE}="$service"}}, {c.SLOTH_SLO})'
        board = board.with_variable(_variable("slo", "SLO", query).multi(True).include_all(True))
    if model_variable:
        query = f'label_values({c.METRIC_INTERACTIONS}_total{{service="$service"}}, model)'
        board = board.with_variable(_variable("model", "Model", query).multi(True).include_all(True))
    return board


def _variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def _ts(title: str, *targets: prometheus.Dataquery, unit: str = "short", span: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).datasource(DS).unit(unit).span(span).height(8)
    for target in targets:
        panel = panel.with_target(target)
    return panel


JOIN = f"on({', '.join(c.SLO_KEY_LABELS)}) group_left()"


def _status_table() -> table.Panel:
    """One row per SLO: objective, period SLI, budget left, burn now, alerts firing."""
    sel = f"{{{SLO_SEL}}}"
    queries = {
        "objective": f"{c.OBJECTIVE}{sel}",
        "SLI (period)": f"1 - ({c.PERIOD_BURN_RATE}{sel} * {JOIN} {c.ERROR_BUDGET}{sel})",
        "budget left": f"{c.PERIOD_BUDGET_REMAINING}{sel}",
        "burn rate (5m)": f"{c.CURRENT_BURN_RATE}{sel}",
        "alerts firing": f'count by ({c.SLOTH_SLO}) (ALERTS{{alertstate="firing", {c.SLOTH_SERVICE}="$service"}}) '
        f"or on({c.SLOTH_SLO}) 0 * max by ({c.SLOTH_SLO}) ({c.OBJECTIVE}{sel})",
    }
    panel = table.Panel().title("SLO status").datasource(DS).span(24).height(7)
    rename = {}
    for ref, (name, expr) in zip("ABCDE", queries.items(), strict=True):
        query = prometheus.Dataquery().expr(expr).ref_id(ref).instant().format(PromQueryFormat.TABLE)
        panel = panel.with_target(query)
        rename[f"Value #{ref}"] = name
    panel = panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    return panel.with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                "renameByName": {c.SLOTH_SLO: "SLO", **rename},
                "excludeByName": {"Time": True, c.SLOTH_ID: True, c.SLOTH_SERVICE: True, c.SLOTH_WINDOW: True},
            },
        )
    )


def _burn_by_window() -> timeseries.Panel:
    """The burn rate over every window the alerts read; a page needs a short and a long one above its
    factor (the description lists them for a 28-day SLO)."""
    sel = f"{{{SLO_SEL}}}"
    targets = [
        _q(f"{c.sli_error(w)}{sel} / {JOIN} {c.ERROR_BUDGET}{sel}", chr(ord("A") + i), _legend(c.SLOTH_SLO, w))
        for i, w in enumerate(SLI_WINDOWS)
    ]
    factors = ", ".join(f"{w.severity} {w.short}+{w.long} at {w.factor(28):.3g}x" for w in ALERT_WINDOWS)
    return _ts("Burn rate by alert window", *targets, span=24).description(f"Alerts (28-day SLO): {factors}.")


def slo_overview() -> Any:
    budget_steps = [
        Threshold(value=None, color="red"),
        Threshold(value=0.25, color="orange"),
        Threshold(value=0.5, color="green"),
    ]
    coverage_steps = [
        Threshold(value=None, color="red"),
        Threshold(value=0.95, color="orange"),
        Threshold(value=0.99, color="green"),
    ]
    return (
        _base("mre · SLO overview", "mre-slo-overview", ["slo"], slo_variable=True)
        .with_row(dashboard.Row("Status"))
        .with_panel(_status_table())
        .with_row(dashboard.Row("Objectives and error budgets"))
        .with_panel(
            stat.Panel()
            .title("Objective")
            .datasource(DS)
            .unit("percentunit")
            .span(6)
            .height(5)
            .with_target(_q(f"{c.OBJECTIVE}{{{SLO_SEL}}}", "A", LEGEND_SLO))
        )
        .with_panel(
            stat.Panel()
            .title("SLI (good share, last 1h)")
            .datasource(DS)
            .unit("percentunit")
            .span(6)
            .height(5)
            .with_target(_q(f"1 - {c.sli_error('1h')}{{{SLO_SEL}}}", "A", LEGEND_SLO))
        )
        .with_panel(
            gauge.Panel()
            .title("Error budget remaining (period)")
            .datasource(DS)
            .unit("percentunit")
            .min(0)
            .max(1)
            .span(12)
            .height(5)
            .thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(budget_steps))
            .with_target(_q(f"{c.PERIOD_BUDGET_REMAINING}{{{SLO_SEL}}}", "A", LEGEND_SLO))
        )
        .with_panel(
            _ts(
                "Error budget burn-down (last 28 days)",
                _q(f"{c.PERIOD_BUDGET_REMAINING}{{{SLO_SEL}}}", "A", LEGEND_SLO),
                unit="percentunit",
                span=24,
            )
            .time_from("28d")
            .description("Budget left over each SLO's period, as it was at each point of the last 28 days.")
        )
        .with_row(dashboard.Row("Burn rates"))
        .with_panel(_burn_by_window())
        .with_panel(_ts("Current burn rate (5m)", _q(f"{c.CURRENT_BURN_RATE}{{{SLO_SEL}}}", "A", LEGEND_SLO)))
        .with_panel(_ts("Period burn rate", _q(f"{c.PERIOD_BURN_RATE}{{{SLO_SEL}}}", "A", LEGEND_SLO)))
        .with_panel(
            _ts(
                "SLI error ratio by window",
                _q(f"{c.sli_error('5m')}{{{SLO_SEL}}}", "A", _legend(c.SLOTH_SLO, "5m")),
                _q(f"{c.sli_error('1h')}{{{SLO_SEL}}}", "B", _legend(c.SLOTH_SLO, "1h")),
                _q(f"{c.sli_error('6h')}{{{SLO_SEL}}}", "C", _legend(c.SLOTH_SLO, "6h")),
                unit="percentunit",
            )
        )
        .with_panel(
            _ts(
                "Firing SLO alerts",
                _q(
                    f'ALERTS{{alertstate="firing", {c.SLOTH_SERVICE}="$service"}}',
                    "A",
                    _legend("alertname", _legend(c.SLOTH_SEVERITY)),
                ),
            )
        )
        # Every SLO above counts only the answers it could score: how many could not, and why.
        .with_row(dashboard.Row("Scoring coverage: answers that could not be fully scored"))
        .with_panel(
            stat.Panel()
            .title("Answers fully scored (last 1h)")
            .datasource(DS)
            .unit("percentunit")
            .span(6)
            .height(6)
            .thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(coverage_steps))
            .with_target(
                _q(
                    f"1 - (sum(increase({c.METRIC_INTERACTIONS_UNSCORED}_total{{{SVC}}}[1h])) or vector(0)) / "
                    f"sum(increase({c.METRIC_INTERACTIONS}_total{{{SVC}}}[1h]))",
                    "A",
                    "scored",
                )
            )
        )
        .with_panel(
            _ts(
                "Unscored answers per second, by reason",
                _q(
                    f"sum by (reason) (rate({c.METRIC_INTERACTIONS_UNSCORED}_total{{{SVC}}}[$__rate_interval]))",
                    "A",
                    "{{reason}}",
                ),
                span=9,
            )
        )
        .with_panel(
            _ts(
                "Scorers skipped per second, by evaluation and reason",
                _q(
                    f'sum by (evaluation, reason) (rate({c.METRIC_SCORER_SKIPPED}_total{{reason!="not_applicable"}}'
                    "[$__rate_interval])) or on() vector(0)",  # none skipped: a zero line, not "no data"
                    "A",
                    "{{evaluation}}: {{reason}}",
                ),
                span=9,
            )
        )
    )


def stages() -> Any:
    score = (
        f'sum by (evaluation) (rate({c.METRIC_EVALUATION_SCORE}_sum{{%s, evaluation=~"%s"}}[$__rate_interval])) / '
        f'sum by (evaluation) (rate({c.METRIC_EVALUATION_SCORE}_count{{%s, evaluation=~"%s"}}[$__rate_interval]))'
    )

    def mean(evaluations: str, ref: str) -> prometheus.Dataquery:
        return _q(score % (SVC_MODEL, evaluations, SVC_MODEL, evaluations), ref, "{{evaluation}}")

    return (
        _base("mre · stages", "mre-stages", ["retrieval", "generation", "guardrail"], model_variable=True)
        .with_row(dashboard.Row("Retrieval"))
        .with_panel(
            _ts(
                "Retrieval scores (mean)",
                mean("|".join(by_stage(RETRIEVAL)), "A"),
                unit="percentunit",
            )
        )
        .with_row(dashboard.Row("Generation"))
        .with_panel(
            _ts(
                "Generation scores (mean)",
                mean("|".join(by_stage(GENERATION)), "A"),
                unit="percentunit",
            )
        )
        .with_panel(
            _ts(
                "Faithfulness distribution (p10, p50)",
                _q(
                    f"histogram_quantile(0.1, sum by (le) (rate({c.METRIC_EVALUATION_SCORE}_bucket{{{SVC_MODEL}, "
                    f'evaluation="faithfulness"}}[$__rate_interval])))',
                    "A",
                    "p10",
                    exemplar=True,
                ),
                _q(
                    f"histogram_quantile(0.5, sum by (le) (rate({c.METRIC_EVALUATION_SCORE}_bucket{{{SVC_MODEL}, "
                    f'evaluation="faithfulness"}}[$__rate_interval])))',
                    "B",
                    "p50",
                    exemplar=True,
                ),
                unit="percentunit",
            )
        )
        .with_row(dashboard.Row("Guardrail"))
        .with_panel(_ts("Guardrail scores (mean)", mean("|".join(by_stage(GUARDRAIL)), "A"), unit="percentunit"))
        .with_panel(
            _ts(
                "Judge escalations by decision",
                _q(
                    f"sum by (decision) (rate({c.METRIC_JUDGE_DECISIONS}_total[$__rate_interval]))", "A", "{{decision}}"
                ),
            )
        )
    )


def failures() -> Any:
    return (
        _base("mre · failures by cause", "mre-failures", ["triage"])
        .with_panel(
            _ts(
                "Failures by cause",
                _q(f"sum by (cause) (rate({c.METRIC_FAILURES}_total{{{SVC}}}[$__rate_interval]))", "A", "{{cause}}"),
            )
        )
        .with_panel(
            _ts(
                "Share of answers failing an SLO",
                _q(
                    f"sum(rate({c.METRIC_FAILURES}_total{{{SVC}}}[$__rate_interval])) / "
                    f"sum(rate({c.METRIC_INTERACTIONS}_total{{{SVC}}}[$__rate_interval]))",
                    "A",
                    "failing",
                ),
                unit="percentunit",
            )
        )
        .with_panel(
            _ts(
                "Bad SLO events by SLO",
                _q(
                    f'sum by (slo) (rate({c.METRIC_SLO_EVENTS}_total{{{SVC}, outcome="bad"}}[$__rate_interval]))',
                    "A",
                    "{{slo}}",
                ),
            )
        )
    )


def _model_first_seen() -> dashboard.AnnotationQuery:
    """A marker when a model version is first seen: the first-seen timestamp is at most five minutes
    old at that step of the query."""
    return (
        dashboard.AnnotationQuery()
        .name("Model version first seen")
        .datasource(DS)
        .enable(True)
        .icon_color("orange")
        .expr(f"time() - {c.METRIC_MODEL_FIRST_SEEN}{{{SVC}}} < 300 >= 0")
    )


def models() -> Any:
    drift_legend = "{{model}} {{evaluation}} ({{baseline}})"
    agreement = (
        f'sum by (evaluation) (increase({c.METRIC_HUMAN_VERDICTS}_total{{{SVC}, agreement="agree"}}[1d])) / '
        f"sum by (evaluation) (increase({c.METRIC_HUMAN_VERDICTS}_total{{{SVC}}}[1d]))"
    )
    return (
        _base("mre · models side by side", "mre-models", ["drift"], model_variable=True)
        .annotation(_model_first_seen())
        .with_row(dashboard.Row("Models"))
        .with_panel(
            _ts(
                "Answers per second by model",
                _q(
                    f"sum by (model) (rate({c.METRIC_INTERACTIONS}_total{{{SVC_MODEL}}}[$__rate_interval]))",
                    "A",
                    "{{model}}",
                ),
            )
        )
        .with_panel(
            _ts(
                "Faithfulness (mean) by model",
                _q(
                    f'sum by (model) (rate({c.METRIC_EVALUATION_SCORE}_sum{{{SVC_MODEL}, evaluation="faithfulness"}}'
                    f"[$__rate_interval])) / sum by (model) (rate({c.METRIC_EVALUATION_SCORE}_count{{{SVC_MODEL}, "
                    f'evaluation="faithfulness"}}[$__rate_interval]))',
                    "A",
                    "{{model}}",
                    exemplar=True,
                ),
                unit="percentunit",
            )
        )
        .with_panel(
            _ts(
                "Bad SLO events share by model",
                _q(
                    f'sum by (model) (rate({c.METRIC_SLO_EVENTS}_total{{{SVC_MODEL}, outcome="bad"}}'
                    "[$__rate_interval]))"
                    f" / sum by (model) (rate({c.METRIC_SLO_EVENTS}_total{{{SVC_MODEL}}}[$__rate_interval]))",
                    "A",
                    "{{model}}",
                ),
                unit="percentunit",
            )
        )
        .with_row(dashboard.Row("Drift: behaviour against the baseline, and the questions asked"))
        .with_panel(
            _ts(
                "Mean score now minus the baseline's (negative is worse)",
                _q(f"{c.METRIC_DRIFT_MEAN_DIFFERENCE}{{{SVC_MODEL}}}", "A", drift_legend),
            )
        )
        .with_panel(
            _ts(
                "Flagged: scores worse / question mix changed",
                _q(
                    f"max by (model, evaluation) ({c.METRIC_DRIFT_DEGRADED}{{{SVC_MODEL}}})",
                    "A",
                    "{{model}} {{evaluation}}",
                ),
                _q(f"max by (model) ({c.METRIC_QUESTION_DRIFT_DETECTED}{{{SVC_MODEL}}})", "B", "{{model}} questions"),
            )
        )
        .with_panel(
            _ts(
                "Question mix distance to the baseline (1 - cosine)",
                _q(f"{c.METRIC_QUESTION_DRIFT_DISTANCE}{{{SVC_MODEL}}}", "A", "{{model}} ({{baseline}})"),
            )
        )
        .with_row(dashboard.Row("Human calibration"))
        .with_panel(
            _ts(
                "Scorer agreement with human verdicts (last day)",
                _q(agreement, "A", "{{evaluation}}"),
                unit="percentunit",
            )
        )
        .with_panel(
            _ts(
                "Human verdicts per hour: scorer passed what people failed",
                _q(
                    f"sum by (evaluation) (increase({c.METRIC_HUMAN_VERDICTS}_total"
                    f'{{{SVC}, human="fail", automated="pass"}}[1h]))',
                    "A",
                    "{{evaluation}} missed",
                ),
                _q(
                    f"sum by (evaluation) (increase({c.METRIC_HUMAN_VERDICTS}_total{{{SVC}}}[1h]))",
                    "B",
                    "{{evaluation}} all",
                ),
            )
        )
    )


def processor_health() -> Any:
    return (
        _base("mre · processor health", "mre-processor", ["health"])
        .with_panel(
            _ts(
                "Spans received / dropped per second",
                _q(f"sum(rate({c.METRIC_SPANS_RECEIVED}_total[$__rate_interval]))", "A", "received"),
                _q(
                    f"sum by (reason) (rate({c.METRIC_SPANS_DROPPED}_total[$__rate_interval]))",
                    "B",
                    "dropped {{reason}}",
                ),
            )
        )
        .with_panel(
            _ts(
                "Pending traces and queued spans",
                _q(f"sum({c.METRIC_TRACES_PENDING})", "A", "pending traces"),
                _q(f"sum({c.METRIC_QUEUE_SPANS})", "B", "queued spans"),
            )
        )
        .with_panel(
            _ts(
                "Scoring latency (p50, p99)",
                _q(
                    f"histogram_quantile(0.5, sum by (le) (rate({c.METRIC_SCORING_DURATION}_bucket"
                    "[$__rate_interval])))",
                    "A",
                    "p50",
                ),
                _q(
                    f"histogram_quantile(0.99, sum by (le) (rate({c.METRIC_SCORING_DURATION}_bucket"
                    "[$__rate_interval])))",
                    "B",
                    "p99",
                ),
                unit="s",
            )
        )
        .with_panel(
            _ts(
                "Worker CPU by step (cores)",
                _q(
                    f"sum by (step) (rate({c.METRIC_CPU_SECONDS}_total[$__rate_interval]))",
                    "A",
                    "{{step}}",
                ),
            )
        )
        .with_panel(
            _ts(
                "Bad input by kind",
                _q(f"sum by (kind) (rate({c.METRIC_BAD_INPUT}_total[$__rate_interval]))", "A", "{{kind}}"),
            )
        )
        .with_panel(
            _ts(
                "Traces scored incomplete, by reason",
                _q(
                    f"sum by (reason) (rate({c.METRIC_TRACES_INCOMPLETE}_total[$__rate_interval]))",
                    "A",
                    "{{reason}}",
                ),
            )
        )
    )


BUILDERS = {
    "slo-overview": slo_overview,
    "stages": stages,
    "failures": failures,
    "models": models,
    "processor-health": processor_health,
}


def build_dashboards(file: SLOFile) -> dict[str, str]:
    """File name -> dashboard JSON (bare JSON, as file provisioning takes it)."""
    del file  # one set of dashboards serves every SLO file: panels select by label
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {f"{name}.json": encoder.encode(builder().build()) + "\n" for name, builder in BUILDERS.items()}


def panel_queries(dashboard_json: str) -> list[str]:
    """Every query expression of a dashboard, panels and annotations (tests run them against a real
    Prometheus)."""
    board = json.loads(dashboard_json)
    panels = [t["expr"] for p in board.get("panels", []) for t in p.get("targets", []) if t.get("expr")]
    annotations = [a["expr"] for a in board.get("annotations", {}).get("list", []) if a.get("expr")]
    return panels + annotations


GRAFANA_DASHBOARDS_PROVIDER = """\
# Grafana file provisioning: <grafana>/provisioning/dashboards/mre.yaml
apiVersion: 1
providers:
  - name: mre-otel
    orgId: 1
    folder: mre-otel
    type: file
    disableDeletion: false
    updateIntervalSeconds: 30
    allowUiUpdates: false
    options:
      path: /var/lib/grafana/dashboards/mre
      foldersFromFilesStructure: false
"""

GRAFANA_DATASOURCE = """\
# Grafana file provisioning: <grafana>/provisioning/datasources/mre.yaml
apiVersion: 1
datasources:
  - name: Prometheus
    uid: prometheus
    type: prometheus
    access: proxy
    url: http://prometheus:9090
    isDefault: true
    jsonData:
      timeInterval: 15s
      # Score histograms carry trace ids as exemplars (Prometheus runs with exemplar storage): a dot
      # on a score panel opens its trace in Tempo.
      exemplarTraceIdDestinations:
        - name: trace_id
          datasourceUid: tempo
          urlDisplayLabel: View trace
  - name: Tempo
    uid: tempo
    type: tempo
    access: proxy
    url: http://tempo:3200
    jsonData:
      tracesToLogsV2:
        datasourceUid: loki
      serviceMap:
        datasourceUid: prometheus
  - name: Loki
    uid: loki
    type: loki
    access: proxy
    url: http://loki:3100
"""

ALERTMANAGER_ROUTES = """\
# Alertmanager routing example for the generated alerts: SLO burn pages to on-call, tickets (slow burn,
# model drift, scorers disagreeing with people) to a queue, information (question mix) to a channel.
route:
  receiver: ml-platform-tickets
  group_by: [alertname, sloth_service, sloth_slo, service, model, evaluation]
  routes:
    - matchers: ['sloth_severity="page"']
      receiver: ml-platform-oncall
      group_wait: 30s
      repeat_interval: 1h
    - matchers: ['sloth_severity="ticket"']
      receiver: ml-platform-tickets
      repeat_interval: 12h
    - matchers: ['severity="ticket"']
      receiver: ml-platform-tickets
      repeat_interval: 24h
    - matchers: ['severity="info"']
      receiver: ml-platform-info
      repeat_interval: 24h
# A page says all a ticket of the same SLO would; a dead SLI says all that its stopped events would.
inhibit_rules:
  - source_matchers: ['sloth_severity="page"']
    target_matchers: ['sloth_severity="ticket"']
    equal: [alertname, sloth_id]
  - source_matchers: ['alertname="SLOEventsAbsent"']
    target_matchers: ['alertname="SLOEventsStopped"']
    equal: [sloth_id]
receivers:
  - name: ml-platform-oncall
    webhook_configs:
      - url: http://pager.example.internal/hook
  - name: ml-platform-tickets
    webhook_configs:
      - url: http://tickets.example.internal/hook
  - name: ml-platform-info
    webhook_configs:
      - url: http://chat.example.internal/hook
"""
