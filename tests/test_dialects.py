"""Every GenAI dialect, recorded from the real libraries, through the SDK's OTLP exporter into
`mre serve`: normalized into an interaction, scored, forwarded enriched with evaluation records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from mre.exporters.serve import RunningService, start_service
from mre.model import Evaluation
from mre.processor.dialects import detect_dialect
from mre.processor.service import ServiceConfig
from mre.processor.spans import SpanRecord
from tests.helpers import BORNE_OUT
from tests.otlp_receiver import Receiver, attrs
from tests.test_service import wait_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dialects"
DIALECTS = sorted(p.stem for p in FIXTURES.glob("*.json"))


def load(dialect: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{dialect}.json").read_text())


def readable_spans(recorded: dict[str, Any]) -> list[ReadableSpan]:
    """Rebuild SDK spans from a recording, so the real OTLP exporter encodes and sends them."""
    spans = []
    for s in recorded["spans"]:
        context = SpanContext(int(s["trace_id"], 16), int(s["span_id"], 16), False, TraceFlags(1))
        parent = (
            SpanContext(int(s["trace_id"], 16), int(s["parent_span_id"], 16), False, TraceFlags(1))
            if s["parent_span_id"]
            else None
        )
        spans.append(
            ReadableSpan(
                name=s["name"],
                context=context,
                parent=parent,
                resource=Resource(s["resource"]),
                attributes=s["attributes"],
                events=[Event(e["name"], e["attributes"], e["time"]) for e in s["events"]],
                kind=SpanKind[s["kind"]],
                start_time=s["start"],
                end_time=s["end"],
                instrumentation_scope=InstrumentationScope(s["scope"]),
            )
        )
    return spans


class Collect:
    def __init__(self) -> None:
        self.evaluations: list[Evaluation] = []

    def on_evaluation(self, evaluation: Evaluation) -> None:
        self.evaluations.append(evaluation)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def test_fixtures_cover_the_four_dialects() -> None:
    assert {load(name)["dialect"] for name in DIALECTS} == {"otel", "openinference", "openllmetry", "openlit"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_is_detected_per_span(dialect: str) -> None:
    recorded = load(dialect)
    genai = [
        SpanRecord(0, 1, None, s["name"], 0, 1, s["attributes"], resource=s["resource"])
        for s in recorded["spans"]
        if s["attributes"]
    ]
    assert genai, "the recording has GenAI spans"
    llm = [r for r in genai if "chat" in r.name.lower() or "completion" in r.name.lower()]
    assert {detect_dialect(r) for r in llm} == {recorded["dialect"]}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_recorded_trace_is_scored_and_forwarded_enriched(dialect: str, receiver: Receiver) -> None:
    collect = Collect()
    running: RunningService = start_service(
        ServiceConfig(listen="127.0.0.1:0", grace_s=0.1, timeout_s=2.0),
        metrics="127.0.0.1:0",
        forward=f"127.0.0.1:{receiver.port}",
        extra_sinks=[collect],
    )
    recorded = load(dialect)
    spans = readable_spans(recorded)
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True)
    try:
        assert exporter.export(spans).name == "SUCCESS"
        wait_for(lambda: len(collect.evaluations) == 1)
        (evaluation,) = collect.evaluations
        interaction = evaluation.interaction
        assert interaction.dialect == recorded["dialect"]
        assert interaction.question == "How many days do customers have to request a refund?"
        assert interaction.model and interaction.model.startswith("mre-demo-model")
        assert interaction.answer and "30 days" in interaction.answer
        assert interaction.contexts and any("30 days" in c for c in interaction.contexts)
        assert evaluation.scores["faithfulness"].value == pytest.approx(BORNE_OUT)
        assert evaluation.scores["abstention"].label == "correct_answer"
        wait_for(lambda: len(receiver.spans) == len(spans) and len(receiver.logs) == len(evaluation.scores))
        enriched = [s for s in receiver.spans if "mre.score.faithfulness" in attrs(s)]
        assert len(enriched) == 1 and enriched[0].span_id.hex() == interaction.span_id
        assert {r.span_id.hex() for r in receiver.logs} == {interaction.span_id}
    finally:
        exporter.shutdown()
        running.stop(drain_timeout_s=2)
