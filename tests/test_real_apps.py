"""The real-application matrix: apps written as their libraries' tutorials write them (LangChain LCEL
over chromadb, a LlamaIndex query engine, the raw openai and anthropic clients), traced by each
instrumentation people run (mre, OpenLLMetry, OpenInference with the framework instrumentor alone and
with the clients too, the official OpenTelemetry GenAI one, OpenLIT), each app planting the same ten
faults among eighteen answers (``tests/realapps/handbook.py``).

Per path: at least 9 of 10 faults found, at most 1 false failure, exactly one interaction per answer,
and every answer scored or counted with its reason. Recordings come from the real libraries, each in
its own virtualenv (``make record-apps``); mre itself and what the test environment installs also run
live here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import mre.instrumentation
from mre.examples.llm_server import FaultyLLMServer
from mre.exporters.embedded import install_embedded
from mre.processor import coverage
from mre.processor.spans import from_readable_span
from tests.realapps import matrix
from tests.realapps.handbook import CASES, FAULT_KINDS
from tests.realapps.model import start_server

ROOT = Path(__file__).resolve().parents[1]
RECORDED = matrix.recorded_paths()
FAULTS = len(FAULT_KINDS)


def check_path(result: matrix.PathResult, limit: tuple[frozenset[str], str] | None = None) -> None:
    """The acceptance of one path, with the limits an instrumentation imposes stated exactly."""
    key = (result.instrumentation, result.app, result.mode)
    if key in matrix.NO_GENERATION_SPAN:
        # Nothing per answer to score: the instrumentation never exported the model call's span.
        assert not any(r.evaluations for r in result.cases.values()), matrix.NO_GENERATION_SPAN[key]
        assert result.traces_missing_parent >= len(CASES), "each such trace is counted as incomplete"
        return
    assert result.duplicates == 0, f"{result.name}: {result.duplicates} interactions beyond one per answer"
    assert not result.unaccounted, f"{result.name}: answers neither scored nor counted: {result.unaccounted}"
    for case_result in result.cases.values():
        for evaluation in case_result.evaluations:
            reason = evaluation.unscored
            assert reason is None or reason in coverage.REASONS
            assert (evaluation.scores[coverage.SCORE_NAME].value == 1.0) == (reason is None)
    expected_misses, why = limit or matrix.LIMITS.get((result.instrumentation, result.app), (frozenset(), ""))
    assert set(result.missed) == expected_misses, f"{result.name}: missed {result.missed} ({why or 'no known limit'})"
    assert len(result.false_failures) <= 1, f"{result.name}: false failures {result.false_failures}"
    if not expected_misses or len(expected_misses) == 1:
        assert len(result.found) >= 9, result.row()


def test_every_recorded_instrumentation_and_app_is_in_the_matrix() -> None:
    instrumentations = {p.parent.name for p in RECORDED}
    assert instrumentations == set(matrix.APPLICABLE)
    for instrumentation, apps in matrix.APPLICABLE.items():
        recorded_apps = {p.name.split("-", 1)[0] for p in RECORDED if p.parent.name == instrumentation}
        assert recorded_apps == set(apps), instrumentation


@pytest.mark.parametrize("path", RECORDED, ids=[f"{p.parent.name}/{p.name.removesuffix('.json.gz')}" for p in RECORDED])
def test_recorded_path(path: Path) -> None:
    check_path(matrix.replay(path))


def test_the_limits_say_why_the_faults_that_need_metadata_are_not_judged() -> None:
    """Where no document metadata was recorded, freshness and permission checks are skipped, and
    mre_scorer_skipped_total says why: never a silent "fresh" or "ok"."""
    result = matrix.replay(matrix.FIXTURES / "official-genai" / "langchain-invoke.json.gz")
    reasons = {
        (name, reason)
        for r in result.cases.values()
        for e in r.evaluations
        for name, reason in e.skipped.items()
        if name in ("freshness", "permission_leak")
    }
    assert reasons == {("freshness", "no_freshness_metadata"), ("permission_leak", "no_acl_metadata")}


# --- mre, live -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model() -> Iterator[FaultyLLMServer]:
    server = start_server()
    yield server
    server.stop()


def run_live(app: str, mode: str, server: FaultyLLMServer, **instrument: object) -> matrix.PathResult:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "handbook-assistant"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    mre.instrumentation.instrument(tracer_provider=provider, **instrument)  # type: ignore[arg-type]
    try:
        from tests.realapps.apps import APPS

        APPS[app](server.url, mode, provider=provider)
    finally:
        mre.instrumentation.uninstrument()
    spans = [from_readable_span(s) for s in memory.get_finished_spans()]
    evaluations, stats = matrix.score_spans(spans)
    result = matrix.evaluate(evaluations, "mre", app, mode)
    result.traces_missing_parent = stats.traces_missing_parent
    return result


LIVE = [
    ("langchain", "invoke"),
    ("langchain", "stream"),
    ("langchain", "batch"),
    ("langchain", "ainvoke"),
    ("langchain", "astream"),
    ("langchain_anthropic", "invoke"),
    ("langchain_anthropic", "stream"),
    ("llamaindex", "query"),
    ("llamaindex", "aquery"),
    ("openai", "create"),
    ("openai", "stream"),
    ("openai", "raw"),
    ("openai", "raw_stream"),
    ("openai", "streaming_response"),
    ("openai", "parse"),
    ("openai", "async"),
    ("openai", "responses"),
    ("anthropic", "create"),
    ("anthropic", "stream"),
    ("anthropic", "stream_helper"),
    ("anthropic", "raw"),
    ("anthropic", "async"),
]


@pytest.mark.parametrize(("app", "mode"), LIVE, ids=[f"{a}-{m}" for a, m in LIVE])
def test_mre_live(app: str, mode: str, model: FaultyLLMServer) -> None:
    pytest.importorskip("langchain_openai")
    check_path(run_live(app, mode, model))


def test_content_capture_off_is_counted_and_burns_the_coverage_slo(
    model: FaultyLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With content capture off nothing can be scored: every answer is counted with the reason and
    the fix, none is a good event of any SLO, and the coverage alert fires (promtool)."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    provider = TracerProvider(resource=Resource.create({"service.name": "handbook-assistant"}))
    registry = CollectorRegistry()
    setup = install_embedded(provider, registry=registry)
    mre.instrumentation.instrument(tracer_provider=provider)
    try:
        from tests.realapps.apps import openai_app

        openai_app(model.url, "create", provider=provider)
        assert setup.processor.force_flush()
    finally:
        mre.instrumentation.uninstrument()
        setup.close()
    service = {"service": "handbook-assistant"}
    unscored = registry.get_sample_value(
        "mre_interactions_unscored_total", {**service, "reason": coverage.CONTENT_CAPTURE_OFF}
    )
    assert unscored == len(CASES)
    good = {"outcome": "good", "route": "unknown", "model": "gpt-4o-mini", **service}
    bad = {**good, "outcome": "bad"}
    for slo in ("faithfulness", "answer-relevance", "safety", "abstention"):
        assert not registry.get_sample_value("mre_slo_events_total", {**good, "slo": slo})
    coverage_bad = registry.get_sample_value("mre_slo_events_total", {**bad, "slo": "scoring-coverage"})
    assert coverage_bad == len(CASES)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make test installs it)")
    # The user's SLO file: the shipped one for this service, built as `mre slo build` builds it.
    slo_file = tmp_path / "slos.yaml"
    shipped = (ROOT / "mre" / "slos.yaml").read_text()
    slo_file.write_text(shipped.replace("service: policy-assistant", "service: handbook-assistant"))
    built = subprocess.run(
        [sys.executable, "-m", "mre.cli", "slo", "build", str(slo_file), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    rules = yaml.safe_load((tmp_path / "out" / "mre-slos.rules.yaml").read_text())
    burn = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ScoringCoverageBudgetBurn"]

    def expected(rule: dict[str, object]) -> dict[str, object]:
        """What promtool will show: the rule's labels on the SLO's series, annotations rendered (no
        failures by cause in this traffic, so no dominant cause)."""
        labels = {
            **rule["labels"],  # type: ignore[dict-item]
            "sloth_service": "handbook-assistant",
            "sloth_slo": "scoring-coverage",
            "sloth_id": "handbook-assistant-scoring-coverage",
        }
        annotations = {
            k: str(v)
            .replace("{{$labels.sloth_service}}", "handbook-assistant")
            .replace("{{$labels.sloth_slo}}", "scoring-coverage")
            for k, v in rule["annotations"].items()  # type: ignore[attr-defined]
        }
        annotations["dominant_cause"] = ""
        return {"exp_labels": labels, "exp_annotations": annotations}

    # The same traffic for an hour (what the live run produced per answer, one answer a second).
    labels = ",".join(f'{k}="{v}"' for k, v in {**bad, "slo": "scoring-coverage"}.items())
    good_labels = labels.replace('outcome="bad"', 'outcome="good"')
    test = {
        "rule_files": [str(tmp_path / "out" / "mre-slos.rules.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"mre_slo_events_total{{{labels}}}", "values": "0+60x90"},
                    {"series": f"mre_slo_events_total{{{good_labels}}}", "values": "0+0x90"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "60m",
                        "alertname": "ScoringCoverageBudgetBurn",
                        "exp_alerts": [expected(rule) for rule in burn],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "coverage-test.yaml"
    path.write_text(json.dumps(test))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the other instrumentations this test environment installs, live (each in a fresh process) ----
THIRD_PARTY = {
    "openllmetry": "opentelemetry.instrumentation.openai",
    "openinference-framework-client": "openinference.instrumentation.openai",
    "official-genai": "opentelemetry.instrumentation.genai.openai",
}


@pytest.mark.parametrize("instrumentation", sorted(THIRD_PARTY))
def test_other_instrumentations_live(instrumentation: str, tmp_path: Path) -> None:
    """The raw-openai app under each other instrumentation installed here: recorded now, in a process
    of its own (instrumentations patch the client for good), scored like the committed recordings."""
    pytest.importorskip(THIRD_PARTY[instrumentation])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.realapps.record", instrumentation, "--out", str(tmp_path)]
    for run in ("openai-create", "openai-stream", "openai-raw"):
        command += ["--only", run]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    paths = sorted((tmp_path / instrumentation).glob("*.json.gz"))
    assert len(paths) == 3, done.stdout + done.stderr[-2000:]
    for path in paths:
        # No chromadb instrumentation here: the context is the prompt's, which names no ACL.
        check_path(matrix.replay(path), (frozenset({"permission_leak"}), matrix.NO_ACL_IN_PROMPT))


def test_mre_serve_maps_metadata_names_for_third_party_spans(tmp_path: Path) -> None:
    """An index that calls its metadata something else (``revision``, ``readers``): with
    ``--metadata-keys`` the superseded version and the leak are still found in OpenInference's spans
    sent over OTLP; without it they cannot be (and the skips say so)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    from mre.exporters.serve import start_service
    from mre.processor.service import ServiceConfig
    from tests.test_dialects import Collect, readable_spans
    from tests.test_service import wait_for

    recorded = matrix.load(matrix.FIXTURES / "openinference-framework" / "langchain-invoke.json.gz")
    renames = {'"version"': '"revision"', '"acl"': '"readers"', '"status"': '"state"'}
    for span in recorded["spans"]:
        for key, value in span["attributes"].items():
            if isinstance(value, str) and key.endswith("document.metadata"):
                for old, new in renames.items():
                    value = value.replace(old, new)
                span["attributes"][key] = value

    def found(metadata_keys: dict[str, str]) -> matrix.PathResult:
        collect = Collect()
        running = start_service(
            ServiceConfig(listen="127.0.0.1:0", grace_s=0.1, timeout_s=2.0, metadata_keys=metadata_keys),
            metrics="127.0.0.1:0",
            extra_sinks=[collect],
        )
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True)
        try:
            assert exporter.export(readable_spans(recorded)).name == "SUCCESS"
            wait_for(lambda: len(collect.evaluations) == len(CASES))
        finally:
            exporter.shutdown()
            running.stop(drain_timeout_s=2)
        return matrix.evaluate(collect.evaluations, "openinference-framework", "langchain", "invoke")

    mapped = found({"version": "revision", "acl": "readers", "status": "state"})
    assert mapped.missed == [] and not mapped.false_failures
    unmapped = found({})
    assert set(unmapped.missed) == {"permission_leak"}  # versions still tell by updated_at; ACLs cannot
