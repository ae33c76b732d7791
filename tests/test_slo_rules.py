"""Generated Prometheus rules: committed files are fresh, promtool accepts them, and the burn-rate
alerts page on a fast burn, ticket on a slow one and stay quiet within budget (promtool test rules,
Prometheus 2.42 as Debian ships it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mre.exporters.slo_build import RULES_FILE, render_rules
from mre.exporters.slo_rules import build_rules
from mre.slo_spec import load_default

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "dashboards" / RULES_FILE


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: `make test` installs the Debian package prometheus")
        pytest.skip("promtool not installed (make test installs it)")
    return found


def test_the_committed_rules_are_what_mre_slo_build_generates() -> None:
    assert RULES.read_text() == render_rules(load_default()), "dashboards/ is stale: run `mre slo build`"


def test_every_committed_generated_file_matches_a_fresh_build(tmp_path: Path) -> None:
    from mre.exporters.slo_build import build

    for path in build(load_default(), tmp_path):
        committed = ROOT / "dashboards" / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `mre slo build`"
        assert committed.read_text() == path.read_text(), f"{committed} is stale: run `mre slo build`"


def test_dashboards_round_trip_through_the_sdks_dashboard_model() -> None:
    import json

    from grafana_foundation_sdk.models.dashboard import Dashboard

    for path in sorted((ROOT / "dashboards" / "grafana").glob("*.json")):
        data = json.loads(path.read_text())
        model = Dashboard.from_json(data)
        assert model.uid == data["uid"] and model.panels and len(model.panels) == len(data["panels"])
        for panel in data["panels"]:
            for target in panel.get("targets", []):
                assert target["refId"], f"{path.name}: a target without refId"
        names = {v["name"] for v in data["templating"]["list"]}
        assert {"datasource", "service"} <= names


def test_promtool_check_rules_accepts_them() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _faithfulness_rules(tmp_path: Path) -> Path:
    """The shipped rules for the faithfulness SLO alone (with drift and calibration): promtool evaluates
    every rule at every step, and these tests read only these."""
    from dataclasses import replace

    spec = load_default()
    only = replace(spec, slos=tuple(s for s in spec.slos if s.slo.name == "faithfulness"))
    path = tmp_path / "faithfulness.rules.yaml"
    path.write_text(render_rules(only))
    return path


def test_rule_names_and_labels_are_sloths() -> None:
    rules = [r for g in build_rules(load_default())["groups"] if g["name"].startswith("sloth-") for r in g["rules"]]
    records = {r["record"] for r in rules if "record" in r}
    assert {
        "slo:sli_error:ratio_rate5m",
        "slo:sli_error:ratio_rate3d",
        "slo:objective:ratio",
        "slo:period_error_budget_remaining:ratio",
        "slo:current_burn_rate:ratio",
        "sloth_slo_info",
    } <= records
    for rule in rules:
        if "record" in rule:
            assert {"sloth_id", "sloth_service", "sloth_slo"} <= set(rule["labels"])
        else:  # alerts inherit them from the series and add their routing
            assert rule["labels"]["sloth_severity"] in ("page", "ticket") and "severity" in rule["labels"]


def _alert(severity: str) -> dict[str, Any]:
    for group in build_rules(load_default())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "FaithfulnessBudgetBurn" and rule["labels"]["sloth_severity"] == severity:
                return rule  # type: ignore[no-any-return]
    raise AssertionError(severity)


def _expected(severity: str, cause: str) -> dict[str, Any]:
    rule = _alert(severity)
    title = f"({severity}) policy-assistant faithfulness SLO error budget burn rate is too fast."
    annotations = {**rule["annotations"], "dominant_cause": cause, "title": title}
    return {
        "exp_labels": {
            **rule["labels"],
            "sloth_id": "policy-assistant-faithfulness",
            "sloth_service": "policy-assistant",
            "sloth_slo": "faithfulness",
        },
        "exp_annotations": annotations,
    }


HEALTHY = 1500  # minutes of all-good traffic before a test's incident: every window starts clean


def counter(phases: list[tuple[float, int]]) -> str:
    """promtool values for a counter growing ``per_min`` for ``minutes``, phase after phase."""
    parts, value = [], 0.0
    for per_min, minutes in phases:
        parts.append(f"{value:g}+{per_min:g}x{minutes - 1}")
        value += per_min * minutes
    return " ".join(parts)


def _series(bad_per_min: int, minutes: int, cause: str = "generation") -> list[dict[str, str]]:
    """10 faithfulness events a minute: all good for a day, then ``bad_per_min`` of them bad for
    ``minutes``; the failures are triaged to ``cause``."""
    sel = 'service="policy-assistant",slo="faithfulness"'
    return [
        {
            "series": f'mre_slo_events_total{{{sel},outcome="good"}}',
            "values": counter([(10, HEALTHY), (10 - bad_per_min, minutes)]),
        },
        {
            "series": f'mre_slo_events_total{{{sel},outcome="bad"}}',
            "values": counter([(0, HEALTHY), (bad_per_min, minutes)]),
        },
        {
            "series": f'mre_slo_failures_total{{{sel},cause="{cause}"}}',
            "values": counter([(0, HEALTHY), (bad_per_min, minutes)]),
        },
    ]


def _at(minutes: int) -> str:
    return f"{HEALTHY + minutes}m"


def test_burn_rate_alerts_page_ticket_and_stay_quiet(tmp_path: Path) -> None:
    tests = [
        {  # fast burn: 80% bad answers against a 5% budget pages within the hour
            "name": "fast burn pages",
            "interval": "1m",
            "input_series": _series(8, 90),
            "alert_rule_test": [
                {"eval_time": _at(10), "alertname": "FaithfulnessBudgetBurn", "exp_alerts": []},
                # within the hour the page fires; the day-long ticket windows have not moved enough yet
                {
                    "eval_time": _at(70),
                    "alertname": "FaithfulnessBudgetBurn",
                    "exp_alerts": [_expected("page", "generation")],
                },
            ],
        },
        {  # slow burn: 20% bad (4x budget) for a day tickets, never pages
            "name": "slow burn tickets",
            "interval": "1m",
            "input_series": _series(2, 1560, cause="context"),
            "alert_rule_test": [
                {"eval_time": _at(60), "alertname": "FaithfulnessBudgetBurn", "exp_alerts": []},
                {
                    "eval_time": _at(1500),
                    "alertname": "FaithfulnessBudgetBurn",
                    "exp_alerts": [_expected("ticket", "context")],
                },
            ],
        },
        {  # within budget: no bad answers, the SLI is 0 and nothing fires
            "name": "within budget stays quiet",
            "interval": "1m",
            "input_series": _series(0, 1560),
            "alert_rule_test": [{"eval_time": _at(1500), "alertname": "FaithfulnessBudgetBurn", "exp_alerts": []}],
            "promql_expr_test": [
                {
                    "expr": 'slo:sli_error:ratio_rate1h{sloth_slo="faithfulness"}',
                    "eval_time": _at(1500),
                    "exp_samples": [
                        {
                            "labels": 'slo:sli_error:ratio_rate1h{sloth_id="policy-assistant-faithfulness", '
                            'sloth_service="policy-assistant", sloth_slo="faithfulness", sloth_window="1h", '
                            'team="ml-platform"}',
                            "value": 0,
                        }
                    ],
                },
            ],
        },
    ]
    run_promtool_tests(tmp_path, _faithfulness_rules(tmp_path), tests)


def run_promtool_tests(tmp_path: Path, rules: Path, tests: list[dict[str, Any]], interval: str = "1m") -> None:
    """Each test case in its own promtool process, all at once (each evaluates every rule at every
    step: cases of thousands of steps run side by side rather than one after another)."""
    processes = []
    for i, case in enumerate(tests):
        path = tmp_path / f"case-{i}.yaml"
        spec = {"rule_files": [str(rules)], "evaluation_interval": interval, "tests": [case]}
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        processes.append(
            subprocess.Popen(
                [promtool(), "test", "rules", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    failures = []
    for process in processes:
        output, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            failures.append(output[-4000:])
    assert not failures, "\n".join(failures)


def _promtool_test(tmp_path: Path, tests: list[dict[str, Any]], interval: str) -> None:
    run_promtool_tests(tmp_path, _faithfulness_rules(tmp_path), tests, interval)


def _rule(name: str) -> dict[str, Any]:
    for group in build_rules(load_default())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                return rule  # type: ignore[no-any-return]
    raise AssertionError(name)


def test_a_degraded_model_tickets_and_says_whether_the_questions_changed_too(tmp_path: Path) -> None:
    svc = 'service="policy-assistant"'
    faithfulness = 'evaluation="faithfulness",baseline="previous_model"'
    degraded = _rule("ModelBehaviourDegraded")
    mix = _rule("QuestionMixChanged")

    def expected(model: str, questions: str) -> dict[str, Any]:
        labels = {"service": "policy-assistant", "model": model, "evaluation": "faithfulness"}
        annotations = {
            **degraded["annotations"],
            "summary": f"{model} scores worse on faithfulness than its baseline (previous_model)",
            "questions": questions,
        }
        return {
            "exp_labels": {**degraded["labels"], **labels, "baseline": "previous_model"},
            "exp_annotations": annotations,
        }

    tests = [
        {
            "name": "a worse model on the same questions",
            "interval": "1m",
            "input_series": [
                {
                    "series": f'mre_drift_degraded{{{svc},model="v2",{faithfulness}}}',
                    "values": "0x10 1x40",
                },
                {
                    "series": f'mre_question_drift_detected{{{svc},model="v2",baseline="previous_model"}}',
                    "values": "0x50",
                },
                {
                    "series": f'mre_drift_degraded{{{svc},model="v3",{faithfulness}}}',
                    "values": "0x10 1x40",
                },
                {
                    "series": f'mre_question_drift_detected{{{svc},model="v3",baseline="previous_model"}}',
                    "values": "0x5 1x45",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "15m", "alertname": "ModelBehaviourDegraded", "exp_alerts": []},  # for: 10m
                {
                    "eval_time": "30m",
                    "alertname": "ModelBehaviourDegraded",
                    "exp_alerts": [
                        expected("v2", "unchanged: the model answers the same questions worse"),
                        expected("v3", "changed: read the score drift with the new mix of questions in mind"),
                    ],
                },
                {"eval_time": "30m", "alertname": "QuestionMixChanged", "exp_alerts": []},  # for: 30m
                {
                    "eval_time": "45m",
                    "alertname": "QuestionMixChanged",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                **mix["labels"],
                                "service": "policy-assistant",
                                "model": "v3",
                                "baseline": "previous_model",
                            },
                            "exp_annotations": {
                                **mix["annotations"],
                                "summary": "policy-assistant gets a different mix of questions than its baseline "
                                "(previous_model)",
                            },
                        }
                    ],
                },
            ],
        }
    ]
    _promtool_test(tmp_path, tests, "1m")


def _verdicts(evaluation: str, agree_per_hour: int, disagree_per_hour: int, hours: int) -> list[dict[str, str]]:
    sel = f'service="policy-assistant",evaluation="{evaluation}"'
    return [
        {
            "series": f'mre_human_verdicts_total{{{sel},human="pass",automated="pass",agreement="agree"}}',
            "values": f"0+{agree_per_hour}x{hours}",
        },
        {
            "series": f'mre_human_verdicts_total{{{sel},human="fail",automated="pass",agreement="disagree"}}',
            "values": f"0+{disagree_per_hour}x{hours}",
        },
    ]


def test_scorers_that_disagree_with_people_ticket_and_so_does_a_fortnight_without_verdicts(tmp_path: Path) -> None:
    disagrees = _rule("ScorerDisagreesWithHumans")
    stale = _rule("HumanCalibrationStale")
    tests = [
        {
            "name": "agreement below 80% with enough verdicts tickets; enough agreement or too few verdicts do not",
            "interval": "1h",
            "input_series": [
                *_verdicts("faithfulness", 2, 1, 48),  # 67% agreement, 3 verdicts an hour
                *_verdicts("answer_relevance", 19, 1, 48),  # 95%
                {
                    "series": 'mre_human_verdicts_total{service="policy-assistant",evaluation="citations",'
                    'human="fail",automated="pass",agreement="disagree"}',
                    "values": "0+1x2 2x46",  # 0% agreement, but only 2 verdicts in all
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "24h",
                    "alertname": "ScorerDisagreesWithHumans",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                **disagrees["labels"],
                                "service": "policy-assistant",
                                "evaluation": "faithfulness",
                            },
                            "exp_annotations": {
                                **disagrees["annotations"],
                                "summary": "faithfulness agrees with only 66.67% of the human verdicts over 7d "
                                "(minimum 80%)",
                            },
                        }
                    ],
                },
                {"eval_time": "24h", "alertname": "HumanCalibrationStale", "exp_alerts": []},
            ],
        },
        {
            "name": "no verdict for 14 days tickets",
            "interval": "1h",
            "input_series": [
                {
                    "series": 'mre_human_verdicts_total{service="policy-assistant",evaluation="faithfulness",'
                    'human="pass",automated="pass",agreement="agree"}',
                    "values": "0+1x24 24x400",
                }
            ],
            "alert_rule_test": [
                {"eval_time": "240h", "alertname": "HumanCalibrationStale", "exp_alerts": []},
                {
                    "eval_time": "400h",
                    "alertname": "HumanCalibrationStale",
                    "exp_alerts": [
                        {
                            "exp_labels": {**stale["labels"], "service": "policy-assistant"},
                            "exp_annotations": {
                                **stale["annotations"],
                                "summary": "no human verdict for policy-assistant in 14 days (or ever): the automated "
                                "scores are not being checked",
                            },
                        }
                    ],
                },
            ],
        },
    ]
    _promtool_test(tmp_path, tests, "1h")
