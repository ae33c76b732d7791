"""`mre demo`: the main job on embedded defaults detects the injected faults and serves /metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mre.examples.demo import DemoReport, run_demo
from mre.exporters.prometheus import DEFAULT_MAX_SERIES
from mre.processor import coverage, limits
from mre.processor.pipeline import SCORER_ERROR
from mre.processor.scorers import default_scorers
from mre.processor.triage import CAUSES
from mre.processor.worker import STEPS
from mre.slo_spec import load_default
from tests.helpers import free_port

N = 300


def _scrape(url: str | None) -> str:
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.fixture(scope="module")
def demo_run() -> tuple[DemoReport, str, str]:
    """One demo run; /metrics scraped half-way through and once more before it stops serving."""
    port = free_port()
    scraped: dict[str, str] = {}

    def mid_run(done: int, total: int) -> None:
        if done == total // 2:
            scraped["mid"] = _scrape(f"http://127.0.0.1:{port}/metrics")

    report = run_demo(
        interactions=N,
        seed=7,
        metrics_port=port,
        on_progress=mid_run,
        keep_serving=lambda url: scraped.__setitem__("end", _scrape(url)),
    )
    return report, scraped["mid"], scraped["end"]


def test_every_answer_is_scored(demo_run: tuple[DemoReport, str, str]) -> None:
    report, _, _ = demo_run
    assert report.interactions == N and report.unscored == 0
    assert report.evaluation_records >= 2 * N  # several scores per answer, each one record


@pytest.mark.parametrize(
    "kind",
    [
        "invented_number",
        "unsupported_sentence",
        "dropped_qualifier",
        "needless_abstention",
        "answered_without_context",
    ],
)
def test_injected_faults_are_detected_with_high_recall_and_precision(
    demo_run: tuple[DemoReport, str, str], kind: str
) -> None:
    report, _, _ = demo_run
    tally = report.faults[kind]
    assert tally.injected >= 5, f"too few {kind} injected to measure"
    assert tally.recall is not None and tally.recall >= 0.9, tally
    assert tally.precision is not None and tally.precision >= 0.8, tally


def test_slo_summary_counts_good_and_total_events(demo_run: tuple[DemoReport, str, str]) -> None:
    report, _, _ = demo_run
    assert set(report.slos) == {s.slo.name for s in load_default().slos}
    abstention = report.slos["abstention"]
    assert abstention["total"] == N
    bad = sum(report.faults[k].injected for k in ("needless_abstention", "answered_without_context"))
    assert abstention["good"] == N - bad


def test_metrics_are_served_while_the_demo_runs(demo_run: tuple[DemoReport, str, str]) -> None:
    _, mid, end = demo_run
    for text in (mid, end):
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {
            "mre_interactions",
            "mre_evaluation_score",
            "mre_slo_events",
            "mre_processor_spans_received",
        } <= names
    final = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(end)
        for s in family.samples
    }
    assert final[("mre_interactions_total", (("model", "mre-demo-model-v1"), ("service", "policy-assistant")))] == N


def test_the_reviewers_verdicts_are_matched_and_the_faithfulness_scorer_agrees_with_them(
    demo_run: tuple[DemoReport, str, str],
) -> None:
    """A fifth of the answers get a human verdict on faithfulness through `mre.feedback` (sent before
    the answer is scored, so they wait for it); each one is matched, none is lost."""
    report, _, end = demo_run
    calibration = report.calibration
    assert calibration["unmatched"] == {} and calibration["pending"] == 0
    faithfulness = calibration["evaluations"]["faithfulness"]
    assert faithfulness["verdicts"] >= 30
    assert faithfulness["agreement"] >= 0.9 and faithfulness["kappa_recent"] >= 0.8
    total = sum(
        s.value
        for family in text_string_to_metric_families(end)
        if family.name == "mre_human_verdicts"
        for s in family.samples
        if s.name == "mre_human_verdicts_total"
    )
    assert total == faithfulness["verdicts"]


def test_metrics_pass_promtool_check(demo_run: tuple[DemoReport, str, str]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: `make test` installs the Debian package prometheus")
        pytest.skip("promtool not installed (make test installs it)")
    _, _, end = demo_run
    result = subprocess.run([promtool, "check", "metrics"], input=end, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_prints_the_table_and_writes_the_json_report(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mre",
            "demo",
            "-n",
            "60",
            "--metrics-port",
            "-1",
            "-q",
            "--report",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    assert "invented_number" in result.stdout and "faithfulness" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["interactions"] == 60
    assert set(report["faults"]["invented_number"]) >= {"injected", "detected", "false_positives"}
    assert set(report["slos"]["faithfulness"]) >= {"good", "total"}


ALLOWED_LABELS = {
    "service": {"policy-assistant"},
    "model": {"mre-demo-model-v1"},
    "route": {"policy-qa"},
    "baseline": {"previous_model", "rolling"},
    "human": {"pass", "fail"},
    "automated": {"pass", "fail"},
    "agreement": {"agree", "disagree"},
    # process-wide bad-input counters (other tests in the same process may have fed bad input)
    "kind": {
        "malformed_request",
        "invalid_span",
        "malformed_attribute",
        "oversized_attribute",
        "unauthenticated",
        "invalid_feedback",
        "unreadable_span",
        "oversized_request",
        "concurrency_limit",
    },
    "outcome": {"good", "bad"},
    "signal": {"metrics", "logs"},  # application data mre accepts and drops
    "slo": {s.slo.name for s in load_default().slos},
    "cause": set(CAUSES),
    "reason": {
        "queue_full",
        "shutdown",
        "invalid",
        "evicted",
        "late",
        "trace_too_large",
        "missing_parent",
        "root_never_seen",
        SCORER_ERROR,
        *coverage.REASONS,
        *coverage.SKIP_REASONS,
    },
    "evaluation": {*default_scorers(), coverage.SCORE_NAME},
    "metric": set(DEFAULT_MAX_SERIES),
    "field": set(limits.FIELDS),
    "step": set(STEPS),  # the worker's CPU by step
}


def test_metric_labels_never_carry_text_ids_or_unbounded_values(demo_run: tuple[DemoReport, str, str]) -> None:
    _, _, end = demo_run
    for family in text_string_to_metric_families(end):
        if not family.name.startswith("mre_"):
            continue
        for sample in family.samples:
            for name, value in sample.labels.items():
                if name in ("le", "quantile"):
                    float(value)  # bucket bounds are numbers
                    continue
                assert name in ALLOWED_LABELS, f"{family.name}: unexpected label {name}"
                assert value in ALLOWED_LABELS[name], f"{family.name}{{{name}={value!r}}} is not an allowed value"


def _drift_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith(("mre_drift", "mre_question_drift", "mre_model_first_seen"))
        for s in family.samples
    }


def test_a_model_switch_mid_run_shows_up_in_the_drift_metrics_within_one_window() -> None:
    """The local model server degrades to a new version after 300 answers; /metrics is scraped every
    20 answers after that. The new version is first seen, its faithfulness is flagged as worse than
    the previous version's within one evaluation window (500 answers) of the switch, and the question
    mix is reported unchanged: a change in behaviour, not in input."""
    from mre.processor.drift import DriftMonitor

    port, switch, step = free_port(), 300, 20
    url = f"http://127.0.0.1:{port}/metrics"
    v2 = {"service": "policy-assistant", "model": "mre-demo-model-v2"}
    degraded = {**v2, "evaluation": "faithfulness", "baseline": "previous_model"}
    found: dict[str, int] = {}

    def scrape(done: int, total: int) -> None:
        if done <= switch or (done - switch) % step or "at" in found:
            return
        samples = _drift_samples(_scrape(url))
        if samples.get(("mre_drift_degraded", tuple(sorted(degraded.items())))) == 1.0:
            found["at"] = done - switch
            questions = ("mre_question_drift_detected", tuple(sorted({**v2, "baseline": "previous_model"}.items())))
            found["questions_drifted"] = int(samples[questions])
            found["first_seen"] = int(("mre_model_first_seen_timestamp_seconds", tuple(sorted(v2.items()))) in samples)

    report = run_demo(interactions=switch + 260, seed=7, metrics_port=port, degrade_after=switch, on_progress=scrape)
    assert "at" in found, "the degraded model was not flagged"
    assert found["at"] <= DriftMonitor().window
    assert found == {"at": found["at"], "questions_drifted": 0, "first_seen": 1}
    models = [row["model"] for row in report.drift]
    assert models == ["mre-demo-model-v1", "mre-demo-model-v2"]
    assert report.drift[1]["evaluations"]["faithfulness"]["degraded"] is True
    assert report.drift[1]["questions_drifted"] is False


def test_the_local_model_server_switches_to_a_degraded_version_after_n_answers() -> None:
    import openai

    from mre.examples.llm_server import DEFAULT_RATES, FaultPlan, FaultyLLMServer

    plan = FaultPlan(degrade_after=3)
    assert plan.degraded().rates == {kind: min(1.0, 2 * rate) for kind, rate in DEFAULT_RATES.items()}
    with FaultyLLMServer(plan) as server:
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        prompt = "Context:\n[refunds-v2] Refunds are paid within 14 days.\n\nQuestion: When are refunds paid?"
        models = [
            client.chat.completions.create(model="any", messages=[{"role": "user", "content": prompt}]).model
            for _ in range(5)
        ]
        assert models == ["mre-demo-model-v1"] * 3 + ["mre-demo-model-v2"] * 2
        assert [m.id for m in client.models.list()] == ["mre-demo-model-v2"]
        assert [a.model for a in server.log.values()] == models  # the log says which version answered
    with pytest.raises(ValueError, match="degrade_after"):
        FaultPlan(degrade_after=-1)
