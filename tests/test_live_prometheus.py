"""A real Prometheus (Debian's 2.42) scrapes `mre serve` while the demo's traffic flows, evaluates the
generated rules, and then every query of every generated dashboard panel returns data."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mre.slo_spec import load_default
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"


def _query(base: str, expr: str) -> list[Any]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def _concrete(expr: str) -> str:
    """Grafana's variables, as a dashboard user would pick them."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace('"$service"', '"policy-assistant"')
        .replace('=~"$slo"', '=~".+"')
        .replace('=~"$model"', '=~".+"')
    )


def _malformed(port: int) -> None:
    """One bad request, so the processor-health panel for bad input has something to show."""
    import grpc

    from mre.processor.service import TRACE_EXPORT_METHOD

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        with contextlib.suppress(grpc.RpcError):
            call(b"\xff\xfe not protobuf", timeout=5)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus missing: `make test` installs the Debian package prometheus")
        pytest.skip("prometheus not installed (make test installs it)")
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from mre.examples.llm_server import FaultPlan, FaultyLLMServer
    from mre.examples.rag_app import RagApp
    from mre.exporters.serve import start_service
    from mre.human_feedback import feedback
    from mre.instrumentation import set_default_capture
    from mre.instrumentation.openai import OpenAIInstrumentor
    from mre.processor.judges import build_faithfulness
    from mre.processor.scorers import default_scorers
    from mre.processor.service import ServiceConfig

    work = tmp_path_factory.mktemp("prometheus")
    # The model degrades to a new version after 150 answers, so the drift panels have data too.
    llm = FaultyLLMServer(FaultPlan(degrade_after=150)).start()
    # The judge cascade on (against the local server's judge mode) so its panel has data too.
    judged = build_faithfulness(judge_url=llm.url, judge_model="judge", sample_rate=0.3)
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", grace_s=0.2),
        metrics="127.0.0.1:0",
        scorers={**default_scorers(), "faithfulness": judged},
    )
    _malformed(running.port)
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DASHBOARDS / "mre-slos.rules.yaml")],
        "scrape_configs": [{"job_name": "mre", "static_configs": [{"targets": [f"127.0.0.1:{running.metrics_port}"]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    set_default_capture(True)
    provider = TracerProvider(resource=Resource.create({"service.name": "policy-assistant"}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True), schedule_delay_millis=100
        )
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
    # Human verdicts on every other answer, over OTLP logs as a feedback service would send them.
    reviews = LoggerProvider(resource=Resource.create({"service.name": "feedback-ui"}))
    reviews.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True))
    )
    stop = threading.Event()

    def traffic() -> None:
        import openai

        app = RagApp(openai.OpenAI(base_url=llm.url, api_key="x", max_retries=0), tracer_provider=provider)
        questions = [*app.corpus.questions, *app.corpus.off_corpus_questions]
        i = 0
        while not stop.is_set():
            _, trace_id = app.answer_traced(questions[i % len(questions)])
            if i % 2:
                feedback(trace_id, evaluation="faithfulness", passed=i % 7 != 1, logger_provider=reviews)
            i += 1
            time.sleep(0.01)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:  # the recording rules need a few scrapes of moving counters
            try:
                if all(
                    _query(base, expr)
                    for expr in (
                        "slo:sli_error:ratio_rate5m",
                        "slo:current_burn_rate:ratio",
                        "mre_drift_mean_difference",
                        "mre_question_drift_distance",
                        "mre_human_verdicts_total",
                    )
                ):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Prometheus never evaluated the SLO rules"
            time.sleep(1)
        time.sleep(5)
        yield base
    finally:
        stop.set()
        thread.join(10)
        instrumentor.uninstrument()
        provider.shutdown()
        reviews.shutdown()
        server.terminate()
        server.wait(20)
        running.stop(drain_timeout_s=2)
        llm.stop()
        set_default_capture(False)


def test_the_rules_are_evaluated_from_the_live_metrics(prometheus: str) -> None:
    slos = {r["metric"]["sloth_slo"] for r in _query(prometheus, "slo:sli_error:ratio_rate5m")}
    assert slos == {s.slo.name for s in load_default().slos}
    remaining = _query(prometheus, 'slo:period_error_budget_remaining:ratio{sloth_slo="faithfulness"}')
    assert remaining and float(remaining[0]["value"][1]) < 1.0  # the demo's faults spend budget


@pytest.mark.parametrize("board", sorted(p.name for p in (DASHBOARDS / "grafana").glob("*.json")))
def test_every_dashboard_panel_query_returns_data(prometheus: str, board: str) -> None:
    from mre.exporters.slo_dashboards import panel_queries

    queries = panel_queries((DASHBOARDS / "grafana" / board).read_text())
    assert queries
    empty = [q for q in queries if not _query(prometheus, _concrete(q))]
    assert not empty, empty


def test_slo_status_reads_budget_and_burn_rates(prometheus: str) -> None:
    import subprocess
    import sys

    from mre.exporters.slo_status import fetch

    statuses = {s.slo: s for s in fetch(prometheus, "policy-assistant")}
    faithfulness = statuses["faithfulness"]
    assert faithfulness.objective == 0.95
    assert faithfulness.sli is not None and 0.0 < faithfulness.sli < 1.0
    assert faithfulness.burn_rate_5m is not None and faithfulness.burn_rate_5m > 1.0  # the demo's faults burn budget
    result = subprocess.run(
        [sys.executable, "-m", "mre", "slo", "status", "--prometheus", prometheus],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert result.returncode == 0, result.stderr
    assert "faithfulness" in result.stdout and "budget left" in result.stdout


def test_slo_status_of_a_service_whose_name_holds_quotes_asks_prometheus_for_that_name(prometheus: str) -> None:
    from mre.exporters.slo_status import fetch

    # Unquoted, `policy-assistant"} or vector(1) or {x="` is a query Prometheus refuses (or, shaped
    # otherwise, one that widens the selection); quoted, it is a name no series has.
    assert fetch(prometheus, 'policy-assistant"} or vector(1) or {x="') == []
    assert fetch(prometheus, "policy-assistant\\") == []
    assert {s.service for s in fetch(prometheus, "policy-assistant")} == {"policy-assistant"}


# The records Sloth's Grafana dashboards (grafana.com 14348 "SLO detail", 14643 "SLO high level") read,
# by Sloth's names and labels; 14348's sli_window variable defaults to 30d, so a 28-day SLO records a
# true 30-day SLI as well rather than leaving that panel to its `or vector(0)` fallback (100 %).
SLOTH_RECORDS = (
    *(f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d", "30d")),
    "slo:objective:ratio",
    "slo:error_budget:ratio",
    "slo:time_period:days",
    "slo:current_burn_rate:ratio",
    "slo:period_burn_rate:ratio",
    "slo:period_error_budget_remaining:ratio",
    "sloth_slo_info",
)


@pytest.mark.parametrize("record", SLOTH_RECORDS)
def test_the_records_sloths_dashboards_read_return_numbers(prometheus: str, record: str) -> None:
    result = _query(prometheus, f'{record}{{sloth_service="policy-assistant", sloth_slo="faithfulness"}}')
    assert result, record
    values = [float(r["value"][1]) for r in result]
    assert all(v == v for v in values), f"{record} is NaN"  # NaN != NaN


def test_no_slo_record_is_nan(prometheus: str) -> None:
    names = {r["metric"]["__name__"] for r in _query(prometheus, 'count by (__name__) ({__name__=~"slo:.+"})')}
    assert len(names) >= 10
    nan = {name: found for name in sorted(names) if (found := _query(prometheus, f"{name} != {name}"))}
    assert nan == {}, nan
