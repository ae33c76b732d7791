"""SLO files people already have: Sloth prometheus/v1 and OpenSLO v1 load into the same model and
build the same rules as their mre/v1 twin; `--format openslo` writes OpenSLO that loads back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mre.exporters.slo_build import render_rules
from mre.exporters.slo_openslo import render_openslo
from mre.exporters.slo_rules import build_rules
from mre.slo_files import load, parse_any
from mre.slo_spec import SpecError
from tests.test_slo_rules import promtool

FORMATS = Path(__file__).resolve().parent.parent / "docs" / "slo-formats"


def _body(text: str) -> str:
    return text.split("\n", 1)[1]  # the header names the source file


def test_sloth_and_openslo_twins_build_the_same_rules_as_the_mre_file() -> None:
    mre = load(FORMATS / "mre.yaml")
    for twin in ("sloth.yaml", "openslo.yaml"):
        other = load(FORMATS / twin)
        assert other.runtime_slos == mre.runtime_slos, twin
        assert _body(render_rules(other)) == _body(render_rules(mre)), twin


def test_the_openslo_in_docs_is_what_format_openslo_writes_and_it_loads_back(tmp_path: Path) -> None:
    mre = load(FORMATS / "mre.yaml")
    committed = (FORMATS / "openslo.yaml").read_text()
    written = render_openslo(mre)
    assert committed.split("apiVersion", 1)[1] == written.split("apiVersion", 1)[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mre",
            "slo",
            "build",
            str(FORMATS / "mre.yaml"),
            "--format",
            "openslo",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert _body(render_rules(load(tmp_path / "openslo.yaml"))) == _body(render_rules(mre))


def test_format_openslo_says_what_openslo_cannot_carry(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mre", "slo", "build", "--format", "openslo", "--out", str(tmp_path / "o.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "not in OpenSLO: labels" in result.stderr


SLOTH_EVENTS = """\
version: "prometheus/v1"
service: "myservice"
labels: {owner: "myteam"}
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels: {category: "availability"}
      annotations: {summary: "High error rate on 'myservice' requests responses"}
      page_alert: {labels: {severity: pageteam, routing_key: myteam}}
      ticket_alert: {labels: {severity: "slack", slack_channel: "#alerts-myteam"}}
"""


def test_a_sloth_events_sli_over_any_metric_builds_rules_promtool_accepts(tmp_path: Path) -> None:
    # Sloth's getting-started example, as its README gives it.
    spec = parse_any(SLOTH_EVENTS, "sloth.yaml")
    assert spec.runtime_slos == ()  # mre does not evaluate it: Prometheus does
    rules = build_rules(spec)
    text = str(rules)
    assert 'code=~"(5..|429)"}[5m]' in text and 'job="myservice"}[3d]' in text
    assert "(14.4 * 0.001)" in text  # Sloth's default period: 30 days
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "MyServiceHighErrorRate"]
    assert {a["labels"]["severity"] for a in alerts} == {"pageteam", "slack"}
    assert all(a["annotations"]["summary"] == "High error rate on 'myservice' requests responses" for a in alerts)
    path = tmp_path / "rules.yaml"
    path.write_text(render_rules(spec))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


OPENSLO_GOOD_TOTAL = """\
apiVersion: openslo/v1
kind: Service
metadata: {name: rag}
spec: {description: the assistant}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: faithful-answers}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(llm_faithful_total[{{.window}}]))'}}}
    total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(llm_answers_total[{{.window}}]))'}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: rag-faithfulness}
spec:
  service: rag
  budgetingMethod: Occurrences
  timeWindow: [{duration: 4w, isRolling: true}]
  indicatorRef: faithful-answers
  objectives: [{target: 0.99}]
"""


def test_an_openslo_good_over_total_sli_becomes_bad_events_over_total() -> None:
    spec = parse_any(OPENSLO_GOOD_TOTAL, "openslo.yaml")
    (slo,) = spec.slos
    assert (slo.slo.window_days, slo.slo.objective) == (28, 0.99)
    assert slo.external is not None
    assert (
        slo.external.error_query
        == "(sum(rate(llm_answers_total[{{.window}}]))) - (sum(rate(llm_faithful_total[{{.window}}])))"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            SLOTH_EVENTS.replace("events:", "raw:"),
            "sloth.yaml:8: slos[0].sli.raw: a raw SLI is a ratio without its events",
        ),
        (
            SLOTH_EVENTS.replace("[{{.window}}]))\n        total", "[5m]))\n        total"),
            "sloth.yaml:9: slos[0].sli.events.error_query: a PromQL rate with {{.window}}",
        ),
        (
            SLOTH_EVENTS.replace("objective: 99.9", "objectiv: 99.9"),
            "sloth.yaml:6: slos[0].objectiv: unknown key 'objectiv'; did you mean 'objective'?",
        ),
        (
            OPENSLO_GOOD_TOTAL.replace("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"),
            "openslo.yaml:20: [2].spec.budgetingMethod: only Occurrences",
        ),
        (
            OPENSLO_GOOD_TOTAL.replace("duration: 4w", "duration: 1d"),
            "openslo.yaml:21: [2].spec.timeWindow[0].duration: a 1d period is too short",
        ),
        (
            OPENSLO_GOOD_TOTAL.replace("indicatorRef: faithful-answers", "indicatorRef: nope"),
            "openslo.yaml:22: [2].spec.indicatorRef: no SLI named 'nope'",
        ),
    ],
    ids=["sloth-raw", "sloth-window", "sloth-typo", "openslo-timeslices", "openslo-period", "openslo-ref"],
)
def test_what_cannot_be_served_is_refused_with_file_line_and_reason(text: str, expected: str) -> None:
    source = "sloth.yaml" if text.startswith("version") else "openslo.yaml"
    with pytest.raises(SpecError) as raised:
        parse_any(text, source)
    assert any(p.startswith(expected) for p in raised.value.problems), raised.value.problems


def test_mre_slo_check_reads_sloth_and_openslo_files() -> None:
    for name in ("sloth.yaml", "openslo.yaml"):
        result = subprocess.run(
            [sys.executable, "-m", "mre", "slo", "check", str(FORMATS / name)], capture_output=True, text=True
        )
        assert result.returncode == 0 and "2 SLOs for service 'support-bot': OK" in result.stdout, result.stderr
