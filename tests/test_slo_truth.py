"""SLO rules tell the truth under the traffic an LLM service has (promtool test rules, Prometheus 2.42):
idle hours, the first bad event of a label set, uneven traffic, a counter reset, no traffic at all,
no human verdict ever; burn factors scale with the SLO period as Sloth's golden files say.

Each case is a few lines of series written from the expected figure, not from the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mre.exporters.slo_build import render_rules
from mre.exporters.slo_rules import build_rules
from mre.slo_spec import SpecError, parse
from mre.slo_windows import windows
from tests.test_slo_rules import counter, run_promtool_tests

SPEC = """\
version: mre/v1
service: rag
slos:
  - name: faithfulness
    objective: 95
    window: {window}
    sli:
      score: {{evaluation: faithfulness, threshold: 0.7}}
    no_data: 30m
"""
EVENTS = 'mre_slo_events_total{{service="rag",slo="faithfulness",outcome="{outcome}",route="qa",model="m1"}}'
SLO = 'sloth_id="rag-faithfulness", sloth_service="rag", sloth_slo="faithfulness"'


def _rules(tmp_path: Path, window: str = "28d", extra: str = "") -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(render_rules(parse(SPEC.format(window=window) + extra, "slos.yaml")))
    return path


def _run(tmp_path: Path, rules: Path, tests: list[dict[str, Any]]) -> None:
    run_promtool_tests(tmp_path, rules, tests)


def _events(good: list[tuple[float, int]], bad: list[tuple[float, int]]) -> list[dict[str, str]]:
    return [
        {"series": EVENTS.format(outcome="good"), "values": counter(good)},
        {"series": EVENTS.format(outcome="bad"), "values": counter(bad)},
    ]


def _sample(record: str, value: float, window: str | None = None) -> dict[str, Any]:
    labels = SLO + (f', sloth_window="{window}"' if window else "")
    return {"labels": f"{record}{{{labels}}}", "value": value}


def _expect(record: str, at: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {"expr": f'{record}{{sloth_slo="faithfulness"}}', "eval_time": at, "exp_samples": samples}


def _expect_about(record: str, at: str, value: float, window: str | None, to: float = 1e-6) -> dict[str, Any]:
    """The record's value to ``to`` (float sums over thousands of samples are not exact)."""
    labels = SLO + (f', sloth_window="{window}"' if window else "")
    return {
        "expr": f'round({record}{{sloth_slo="faithfulness"}}, {to!r})',
        "eval_time": at,
        "exp_samples": [{"labels": f"{{{labels}}}", "value": value}],
    }


def test_idle_hours_are_no_data_and_the_period_sli_counts_only_events(tmp_path: Path) -> None:
    # Counters exist and stand still for 6 hours, then a day at 98 good and 2 bad a minute: 2 % bad,
    # 40 % of a 5 % budget spent. The old mean of 5-minute ratios was NaN here for 28 days.
    idle, day = 360, 1440
    series = _events(good=[(0, idle), (98, day)], bad=[(0, idle), (2, day)])
    at = f"{idle + day}m"
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {
                "name": "idle then traffic",
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    _expect("slo:sli_error:ratio_rate5m", "3h", []),  # idle: no data, not NaN, not 0
                    _expect_about("slo:sli_error:ratio_rate28d", at, 0.02, "28d"),
                    # Sloth's meta records keep the period SLI's sloth_window label
                    _expect_about("slo:period_error_budget_remaining:ratio", at, 0.6, "28d"),
                ],
            }
        ],
    )


def test_the_first_bad_event_of_a_label_set_is_counted(tmp_path: Path) -> None:
    # The exporter creates both outcomes at 0 with the first event (test_metrics); the first bad event
    # after 30 minutes at 100 good a minute is then 1 of the hour's 6001 events.
    series = _events(good=[(100, 61)], bad=[(0, 31), (0, 1), (0, 29)])
    series[1]["values"] = "0x30 1x30"
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {
                "name": "first bad event",
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {  # 1 bad event in 6001
                        "expr": 'round(1 / slo:sli_error:ratio_rate1h{sloth_slo="faithfulness"})',
                        "eval_time": "60m",
                        "exp_samples": [{"labels": f'{{{SLO}, sloth_window="1h"}}', "value": 6001}],
                    }
                ],
            }
        ],
    )


def test_uneven_traffic_weighs_every_event_the_same(tmp_path: Path) -> None:
    # A day at 1000 good a minute, then a day at 1 bad a minute: 0.1 % of events are bad, 2 % of the
    # budget is spent. The mean of 5-minute ratios said -8.97.
    day = 1440
    series = _events(good=[(1000, day), (0, day)], bad=[(0, day), (1, day)])
    at = f"{2 * day - 1}m"
    rules = _rules(tmp_path)
    _run(
        tmp_path,
        rules,
        [
            {
                "name": "uneven traffic",
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    _expect_about("slo:period_error_budget_remaining:ratio", at, 0.98, "28d", to=0.001),
                ],
            }
        ],
    )


def test_a_counter_reset_neither_spends_nor_refunds_budget(tmp_path: Path) -> None:
    # mre restarts after an hour: both counters start again from 0; 5 of every 100 events stay bad.
    good = f"{counter([(95, 60)])} {counter([(95, 60)])}"
    bad = f"{counter([(5, 60)])} {counter([(5, 60)])}"
    series = [
        {"series": EVENTS.format(outcome="good"), "values": good},
        {"series": EVENTS.format(outcome="bad"), "values": bad},
    ]
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {
                "name": "counter reset",
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    _expect_about("slo:sli_error:ratio_rate1h", "100m", 0.05, "1h"),
                    _expect_about("slo:sli_error:ratio_rate28d", "119m", 0.05, "28d"),
                ],
            }
        ],
    )


@pytest.mark.parametrize(
    ("days", "factors"),
    [
        (30, [14.4, 6.0, 3.0, 1.0]),  # Sloth's google-30d
        (28, [13.44, 5.6, 2.8, 0.9333333333333333]),  # Sloth's google-28d golden file
        (7, [3.36, 1.4, 0.7, 0.23333333333333334]),  # the same budget shares of a week
    ],
)
def test_burn_factors_spend_the_workbooks_budget_shares_of_the_slos_own_period(days: int, factors: list[float]) -> None:
    assert [f for _, f in windows(days)] == factors
    assert [(w.short, w.long, w.budget_percent) for w, _ in windows(days)] == [
        ("5m", "1h", 2),
        ("30m", "6h", 5),
        ("2h", "1d", 10),
        ("6h", "3d", 10),
    ]
    rules = build_rules(parse(SPEC.format(window=f"{days}d"), "s"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "FaithfulnessBudgetBurn"]
    exprs = "\n".join(a["expr"] for a in alerts)
    for factor in factors:
        assert f"({factor!r} * 0.05)" in exprs


def test_a_28_day_slo_pages_at_2_percent_of_its_own_budget_an_hour(tmp_path: Path) -> None:
    # 70 % bad answers against a 5 % budget: 14x the budget. 28 days' page factor is 13.44, so this
    # pages; the 30-day factor (14.4) applied to a 28-day SLO would have stayed quiet.
    healthy = 1500
    series = _events(good=[(10, healthy), (3, 90)], bad=[(0, healthy), (7, 90)])
    rules = _rules(tmp_path)
    _run(
        tmp_path,
        rules,
        [
            {
                "name": "28d page",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": f"{healthy + 80}m",
                        "alertname": "FaithfulnessBudgetBurn",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "sloth_id": "rag-faithfulness",
                                    "sloth_service": "rag",
                                    "sloth_slo": "faithfulness",
                                    "sloth_severity": "page",
                                    "severity": "page",
                                },
                                "exp_annotations": _annotations("FaithfulnessBudgetBurn", "page"),
                            }
                        ],
                    }
                ],
            }
        ],
    )


@pytest.mark.parametrize("window", ["1d", "3d", "5d", "400d"])
def test_periods_the_windows_cannot_serve_are_refused_with_the_reason(window: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse(SPEC.format(window=window), "slos.yaml")
    (problem,) = raised.value.problems
    assert problem.startswith("slos.yaml:6: slos[0].window: ") and ("period" in problem)


def _annotations(name: str, severity: str | None = None) -> dict[str, str]:
    """The alert's annotations as promtool renders them for service rag (templates filled in)."""
    for group in build_rules(parse(SPEC.format(window="28d"), "s"))["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name and (severity is None or rule["labels"].get("sloth_severity") == severity):
                out = {k: v.replace("{{ $labels.service }}", "rag") for k, v in rule["annotations"].items()}
                if "dominant_cause" in out:
                    out["dominant_cause"] = ""  # no failures in these series
                if "title" in out:
                    out["title"] = f"({severity}) rag faithfulness SLO error budget burn rate is too fast."
                return out
    raise AssertionError(name)


def _alerts(name: str, at: str, labels: list[dict[str, str]]) -> dict[str, Any]:
    expected = [{"exp_labels": lab, "exp_annotations": _annotations(name)} for lab in labels]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def test_no_traffic_at_all_is_an_alert_that_the_sli_is_dead(tmp_path: Path) -> None:
    dead = {
        "service": "rag",
        "slo": "faithfulness",
        "severity": "ticket",
        "sloth_id": "rag-faithfulness",
        "sloth_service": "rag",
        "sloth_slo": "faithfulness",
    }
    stopped = {k: v for k, v in dead.items() if k not in ("service", "slo")}
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {  # nothing: no event series, no answers (mre unscraped, or nothing ever scored)
                "name": "no traffic",
                "interval": "1m",
                "input_series": [{"series": 'up{job="other"}', "values": "1x60"}],
                "alert_rule_test": [
                    _alerts("SLOEventsAbsent", "20m", []),  # waits its no_data time
                    _alerts("SLOEventsAbsent", "40m", [dead]),
                ],
            },
            {  # answers are still scored but this SLO gets no event (its scorer stopped)
                "name": "events stopped",
                "interval": "1m",
                "input_series": [
                    {"series": EVENTS.format(outcome="good"), "values": "0+10x30 300x60"},
                    {"series": 'mre_interactions_total{service="rag",model="m1"}', "values": "0+10x90"},
                ],
                "alert_rule_test": [
                    _alerts("SLOEventsStopped", "30m", []),
                    _alerts("SLOEventsStopped", "70m", [stopped]),
                ],
            },
            {  # a quiet night is not a dead SLI: nothing answered, nothing expected
                "name": "idle is not dead",
                "interval": "1m",
                "input_series": [
                    {"series": EVENTS.format(outcome="good"), "values": "0+10x30 300x60"},
                    {"series": 'mre_interactions_total{service="rag",model="m1"}', "values": "0+10x30 300x60"},
                ],
                "alert_rule_test": [_alerts("SLOEventsStopped", "80m", []), _alerts("SLOEventsAbsent", "80m", [])],
            },
        ],
    )


def test_human_calibration_is_stale_when_no_verdict_was_ever_sent(tmp_path: Path) -> None:
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {
                "name": "no verdict ever",
                "interval": "1m",
                "input_series": [{"series": EVENTS.format(outcome="good"), "values": "0+10x120"}],
                "alert_rule_test": [
                    _alerts("HumanCalibrationStale", "30m", []),  # `for: 1h`
                    _alerts("HumanCalibrationStale", "90m", [{"service": "rag", "severity": "ticket"}]),
                ],
            }
        ],
    )


def test_a_burn_alert_names_the_dominant_cause_of_its_own_slos_failures(tmp_path: Path) -> None:
    # The service's failures are mostly context (stale sources, another SLO); this SLO's are generation.
    healthy = 1500
    series = _events(good=[(10, healthy), (2, 90)], bad=[(0, healthy), (8, 90)])
    failures = 'mre_slo_failures_total{{service="rag",slo="{slo}",cause="{cause}"}}'
    series += [
        {
            "series": failures.format(slo="faithfulness", cause="generation"),
            "values": counter([(0, healthy), (8, 90)]),
        },
        {"series": failures.format(slo="faithfulness", cause="context"), "values": counter([(0, healthy), (1, 90)])},
        {"series": failures.format(slo="freshness", cause="context"), "values": counter([(0, healthy), (40, 90)])},
    ]
    rules = build_rules(parse(SPEC.format(window="28d"), "s"))
    (page,) = [
        r for g in rules["groups"] for r in g["rules"] if r.get("alert") and r["labels"].get("sloth_severity") == "page"
    ]
    annotations = {**page["annotations"], "dominant_cause": "generation"}
    annotations["title"] = "(page) rag faithfulness SLO error budget burn rate is too fast."
    labels = {**page["labels"], "sloth_id": "rag-faithfulness", "sloth_service": "rag", "sloth_slo": "faithfulness"}
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {
                "name": "dominant cause per SLO",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": f"{healthy + 70}m",
                        "alertname": "FaithfulnessBudgetBurn",
                        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
                    }
                ],
            }
        ],
    )


def test_traces_split_across_replicas_are_an_alert(tmp_path: Path) -> None:
    # A round-robin balancer in front of the replicas: a fifth of the traces lose their root.
    series = [
        {"series": 'mre_interactions_total{service="rag",model="m1"}', "values": "0+100x60"},
        {"series": 'mre_processor_traces_incomplete_total{reason="root_never_seen"}', "values": "0+20x60"},
    ]
    healthy = [
        {"series": 'mre_interactions_total{service="rag",model="m1"}', "values": "0+100x60"},
        {"series": 'mre_processor_traces_incomplete_total{reason="root_never_seen"}', "values": "0+1x60"},
    ]
    fired = {"severity": "ticket"}
    _run(
        tmp_path,
        _rules(tmp_path),
        [
            {
                "name": "split traces",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    _alerts("TracesScoredIncomplete", "10m", []),  # `for: 15m`
                    {
                        "eval_time": "45m",
                        "alertname": "TracesScoredIncomplete",
                        "exp_alerts": [
                            {
                                "exp_labels": fired,
                                "exp_annotations": {
                                    **_annotations("TracesScoredIncomplete"),
                                    "summary": "20% of traces are scored without all their spans",
                                },
                            }
                        ],
                    },
                ],
            },
            {
                "name": "a few incomplete traces are not an alert",
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [_alerts("TracesScoredIncomplete", "45m", [])],
            },
        ],
    )
