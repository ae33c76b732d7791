"""The SLO file: the shipped default loads, and every mistake is reported with file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mre.processor.scorers  # noqa: F401  (the scorer registry declares the evaluation names SLO files use)
from mre.slo_spec import SpecError, load_default, parse

GOOD = """\
version: mre/v1
service: shop
slos:
  - name: faithfulness
    objective: 99
    sli:
      score: {evaluation: faithfulness, threshold: 0.85}
  - name: guardrails
    objective: 99.9
    window: 7d
    sli:
      event: guardrail_violation
    filters: {route: checkout}
    alerting:
      name: GuardrailBurn
      page: {disable: true}
"""


def test_the_shipped_default_covers_the_behaviours_the_issue_names() -> None:
    spec = load_default()
    assert {s.slo.scorer for s in spec.slos} == {
        "faithfulness",
        "answer_relevance",
        "safety",
        "input_safety",  # flagged questions are their own SLI, not the answer-safety budget
        "freshness",
        "abstention",
        "permission_leak",
        "scoring_coverage",  # an answer that could not be scored is a bad event here, never a good one
    }
    assert all(0 < s.slo.objective < 1 for s in spec.slos)


def test_scores_and_events_become_runtime_slos() -> None:
    spec = parse(GOOD, "slos.yaml")
    faithfulness, guardrails = spec.slos
    assert (faithfulness.slo.scorer, faithfulness.slo.threshold, faithfulness.slo.objective) == (
        "faithfulness",
        0.85,
        0.99,
    )
    assert faithfulness.alerting.name == "FaithfulnessBudgetBurn"  # a default name
    assert (guardrails.slo.scorer, guardrails.slo.threshold, guardrails.slo.window_days) == ("safety", 1.0, 7)
    assert guardrails.filters == {"route": "checkout"}
    assert guardrails.alerting.page_labels is None and guardrails.alerting.ticket_labels == {"severity": "ticket"}


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (
            GOOD.replace("objective: 99\n", "objective: 140\n"),
            "slos.yaml:5: slos[0].objective: a percentage in (0, 100)",
        ),
        (
            GOOD.replace("threshold: 0.85", "threshold: 2"),
            "slos.yaml:7: slos[0].sli.score.threshold: a score in [0, 1]",
        ),
        (GOOD.replace("event: guardrail_violation", "event: vibes"), "slos.yaml:12: slos[1].sli.event: one of"),
        (GOOD.replace("window: 7d", "window: weekly"), "slos.yaml:10: slos[1].window: a number of days"),
        (GOOD.replace("name: guardrails", "name: faithfulness"), "slos.yaml:8: slos[1].name: duplicate SLO name"),
        (GOOD.replace("version: mre/v1", "version: sloth/v1"), "slos.yaml:1: version: must be 'mre/v1'"),
        (GOOD.replace("{route: checkout}", "{region: eu}"), "slos.yaml:13: slos[1].filters: a mapping with keys"),
        ("version: mre/v1\nservice: [x\n", "slos.yaml:"),
    ],
    ids=["objective", "threshold", "event", "window", "duplicate", "version", "filters", "yaml"],
)
def test_errors_name_file_line_and_field(broken: str, expected: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse(broken, "slos.yaml")
    assert any(p.startswith(expected) for p in raised.value.problems), raised.value.problems


def test_the_calibration_section_sets_the_human_agreement_alerts_and_is_checked() -> None:
    assert parse(GOOD, "slos.yaml").calibration.min_agreement == 0.8  # defaults without the section
    spec = parse(GOOD + "calibration: {min_agreement: 90, min_verdicts: 50, window: 14d, stale_after: 30d}\n", "s")
    c = spec.calibration
    assert (c.min_agreement, c.min_verdicts, c.window_days, c.stale_after_days) == (0.9, 50, 14, 30)
    broken = GOOD + "calibration:\n  min_agreement: 140\n  window: weekly\n  typo: 1\n"
    with pytest.raises(SpecError) as raised:
        parse(broken, "slos.yaml")
    assert raised.value.problems == [
        "slos.yaml:20: calibration.typo: unknown key 'typo' (known: min_agreement, min_verdicts, window, stale_after, "
        "disable)",
        "slos.yaml:18: calibration.min_agreement: a percentage in (0, 100), got 140",
        "slos.yaml:19: calibration.window: a number of days like '7d', got 'weekly'",
    ]


def test_all_problems_are_reported_at_once() -> None:
    broken = GOOD.replace("objective: 99\n", "objective: 0\n").replace("threshold: 0.85", "threshold: -1")
    with pytest.raises(SpecError) as raised:
        parse(broken, "slos.yaml")
    assert len(raised.value.problems) == 2


def test_the_cli_check_command_reports_and_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(GOOD.replace("objective: 99\n", "objective: 140\n"))
    result = subprocess.run([sys.executable, "-m", "mre", "slo", "check", str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and "slos.yaml:5: slos[0].objective" in result.stderr


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        (
            GOOD.replace("evaluation: faithfulness", "evaluation: faithfullness"),
            "slos.yaml:7: slos[0].sli.score.evaluation: unknown evaluation 'faithfullness'; "
            "did you mean 'faithfulness'?",
        ),
        (
            GOOD.replace("filters:", "filter:"),
            "slos.yaml:13: slos[1].filter: unknown key 'filter'; did you mean 'filters'?",
        ),
        (
            GOOD.replace("alerting:", "alerts:"),
            "slos.yaml:14: slos[1].alerts: unknown key 'alerts'; did you mean 'alerting'?",
        ),
        (
            GOOD.replace("objective: 99\n", "objectve: 99\n"),
            "slos.yaml:5: slos[0].objectve: unknown key 'objectve'; did you mean 'objective'?",
        ),
        (
            GOOD.replace("event: guardrail_violation", "event: guardrail_violations"),
            "slos.yaml:12: slos[1].sli.event: one of guardrail_violation",
        ),
        (
            GOOD.replace("page: {disable: true}", "page: {disabled: true}"),
            "slos.yaml:16: slos[1].alerting.page.disabled",
        ),
    ],
    ids=["evaluation", "filter", "alerts", "objective", "event", "disabled"],
)
def test_a_misspelt_key_evaluation_or_event_is_an_error_never_silently_ignored(typo: str, expected: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse(typo, "slos.yaml")
    assert any(p.startswith(expected) for p in raised.value.problems), raised.value.problems


def test_a_custom_scorer_is_declared_before_an_slo_uses_it() -> None:
    custom = GOOD.replace("evaluation: faithfulness", "evaluation: tone")
    with pytest.raises(SpecError):
        parse(custom, "slos.yaml")
    spec = parse("evaluations: [tone]\n" + custom, "slos.yaml")
    assert spec.slos[0].slo.scorer == "tone" and spec.evaluations == ("tone",)


def test_runbook_url_is_the_alert_link_and_runbook_text_its_description() -> None:
    linked = GOOD.replace(
        "      page: {disable: true}\n", "      page: {disable: true}\n      runbook_url: https://wiki/x\n"
    )
    routing = parse(linked, "s").slos[1].alerting
    assert routing.runbook_url == "https://wiki/x" and routing.runbook is None
    legacy = GOOD.replace(
        "      page: {disable: true}\n", "      page: {disable: true}\n      runbook: https://wiki/y\n"
    )
    assert parse(legacy, "s").slos[1].alerting.runbook_url == "https://wiki/y"  # the old key holding a link
    with pytest.raises(SpecError, match="runbook_url: an http"):
        parse(
            GOOD.replace("      page: {disable: true}\n", "      page: {disable: true}\n      runbook_url: wiki\n"), "s"
        )


def test_reading_an_slo_file_before_any_scorer_is_registered_says_so() -> None:
    # The core does not import the processor: the scorer registry declares the names when loaded.
    import subprocess
    import sys

    code = (
        "from mre.slo_spec import load_default\n"
        "try:\n    load_default()\nexcept RuntimeError as exc:\n    print(exc)\n"
        "import mre.processor.scorers\nprint(len(load_default().slos))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "import mre.processor.scorers" in out and out.strip().endswith("8")
