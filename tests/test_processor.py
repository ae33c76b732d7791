"""BehaviorSpanProcessor end to end inside one process: spans in, scores, metrics and events out."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from mre import semconv as sc
from mre.exporters.embedded import install_embedded
from mre.instrumentation import generation, guardrail, retrieval
from mre.model import Document, Evaluation
from mre.processor import BehaviorSpanProcessor, ScoringPipeline
from tests.helpers import BORNE_OUT, FAITHFULNESS_THRESHOLD

CONTEXT = "Customers may request a refund within 30 days of delivery, except for customized items."
QUESTION = "How many days do customers have to request a refund?"


class Collect:
    def __init__(self) -> None:
        self.evaluations: list[Evaluation] = []

    def on_evaluation(self, evaluation: Evaluation) -> None:
        self.evaluations.append(evaluation)


def rag_trace(provider: TracerProvider, answer: str) -> tuple[str, str]:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request", attributes={sc.MRE_PRINCIPAL: "alice"}) as root:
        with retrieval("kb", query=QUESTION, tracer_provider=provider) as r:
            r.record_documents([Document("refunds-v2", CONTEXT, 0.9, metadata={"version": 2})])
        with generation(
            "m1",
            provider="openai",
            messages=[{"role": "user", "content": QUESTION}],
            tracer_provider=provider,
        ) as g:
            g.record_output(answer, response_id="resp-1", response_model="m1-2026")
            gen_span_id = format(g.span.get_span_context().span_id, "016x")  # type: ignore[union-attr]
        with guardrail("pii", tracer_provider=provider) as gr:
            gr.record_verdict("allow")
    return format(root.get_span_context().trace_id, "032x"), gen_span_id


@pytest.fixture
def embedded(capture_on: None, logger_provider: LoggerProvider):  # type: ignore[no-untyped-def]
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    collect = Collect()
    registry = CollectorRegistry()
    setup = install_embedded(provider, registry=registry, logger_provider=logger_provider, extra_sinks=[collect])
    yield provider, setup, collect, registry
    setup.close()


def test_a_trace_becomes_one_interaction_with_its_retrieval_and_guardrail(embedded) -> None:  # type: ignore[no-untyped-def]
    provider, setup, collect, _ = embedded
    trace_id, gen_span = rag_trace(
        provider, "Customers may request a refund within 30 days of delivery, except for customized items."
    )
    assert setup.processor.force_flush()
    (evaluation,) = collect.evaluations
    i = evaluation.interaction
    assert (i.trace_id, i.span_id, i.service, i.model, i.principal) == (
        trace_id,
        gen_span,
        "shop",
        "m1-2026",
        "alice",
    )
    assert i.question == QUESTION and i.contexts == [CONTEXT]
    assert [g.verdict for g in i.guardrails] == ["allow"]
    assert evaluation.scores["faithfulness"].value == pytest.approx(BORNE_OUT)
    assert evaluation.scores["answer_relevance"].label == "relevant"


def test_scores_become_metrics_and_slo_events(embedded) -> None:  # type: ignore[no-untyped-def]
    provider, setup, _, registry = embedded
    rag_trace(provider, "Customers may request a refund within 30 days of delivery, except for customized items.")
    rag_trace(provider, "Customers may request a refund within 90 days of delivery, except for customized items.")
    setup.processor.force_flush()
    assert registry.get_sample_value("mre_interactions_total", {"service": "shop", "model": "m1-2026"}) == 2
    assert (
        registry.get_sample_value(
            "mre_slo_events_total",
            {"service": "shop", "slo": "faithfulness", "outcome": "good", "route": "unknown", "model": "m1-2026"},
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "mre_slo_events_total",
            {"service": "shop", "slo": "faithfulness", "outcome": "bad", "route": "unknown", "model": "m1-2026"},
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "mre_evaluation_score_count",
            {"service": "shop", "model": "m1-2026", "evaluation": "faithfulness"},
        )
        == 2
    )
    assert registry.get_sample_value("mre_processor_spans_received_total") == 8  # 4 spans a trace


def test_evaluation_records_are_parented_to_the_generation_span(
    embedded,
    log_exporter: InMemoryLogRecordExporter,  # type: ignore[no-untyped-def]
) -> None:
    provider, setup, _, _ = embedded
    trace_id, gen_span = rag_trace(provider, "Customers may request a refund within 90 days of delivery.")
    setup.processor.force_flush()
    records = [r.log_record for r in log_exporter.get_finished_logs()]
    by_name = {r.attributes[sc.GEN_AI_EVALUATION_NAME]: r for r in records}
    assert {"faithfulness", "answer_relevance", "abstention", "safety"} <= set(by_name)
    for record in records:
        assert record.event_name == "gen_ai.evaluation.result"
        assert (format(record.trace_id, "032x"), format(record.span_id, "016x")) == (trace_id, gen_span)
        assert record.attributes[sc.GEN_AI_RESPONSE_ID] == "resp-1"
    faithfulness = by_name["faithfulness"]
    assert faithfulness.attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] < FAITHFULNESS_THRESHOLD
    assert faithfulness.attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] == "unsupported"
    assert "90 day" in faithfulness.attributes[sc.GEN_AI_EVALUATION_EXPLANATION]
    # The answer failed an SLO: every record says why (the README promises the cause on records).
    assert {r.attributes[sc.MRE_FAILURE_CAUSE] for r in records} == {"generation"}


def test_a_good_answer_has_no_failure_cause_on_its_records(
    embedded,
    log_exporter: InMemoryLogRecordExporter,  # type: ignore[no-untyped-def]
) -> None:
    provider, setup, _, _ = embedded
    rag_trace(provider, "Customers may request a refund within 30 days of delivery, except for customized items.")
    setup.processor.force_flush()
    records = [r.log_record for r in log_exporter.get_finished_logs()]
    assert records and not any(sc.MRE_FAILURE_CAUSE in r.attributes for r in records)


def test_a_failing_scorer_costs_only_its_own_score() -> None:
    def broken(_: object) -> None:
        raise ZeroDivisionError

    collect = Collect()
    from mre.processor.scorers import DEFAULT_SCORERS

    pipeline = ScoringPipeline({**DEFAULT_SCORERS, "broken": broken}, sinks=[collect])  # type: ignore[dict-item]
    from tests.helpers import interaction

    pipeline.process(interaction("Refunds take 30 days.", ["Refunds take 30 days."], "How long do refunds take?"))
    assert "broken" not in collect.evaluations[0].scores
    assert {"faithfulness", "answer_relevance", "abstention"} <= set(collect.evaluations[0].scores)
    assert pipeline.stats.scorer_errors == {"broken": 1}


def test_a_full_queue_drops_and_counts_instead_of_blocking_the_app(capture_on: None) -> None:
    from mre.instrumentation import generation

    gate, reached = threading.Event(), threading.Event()

    class SlowSink:
        def on_evaluation(self, evaluation: Evaluation) -> None:
            reached.set()  # the worker is now held here, with a real interaction
            gate.wait(10)

    processor = BehaviorSpanProcessor(ScoringPipeline(sinks=[SlowSink()]), max_queue_size=5, poll_interval_s=0.01)
    provider = TracerProvider()
    provider.add_span_processor(processor)

    def answer() -> None:
        with generation("m", messages=[{"role": "user", "content": "q?"}], tracer_provider=provider) as g:
            g.record_output("a.")

    answer()
    assert reached.wait(5), "the sink was never reached: nothing held the worker"
    longest = 0.0
    for _ in range(50):  # the worker is stuck in the sink: these fill the queue, then are dropped
        started = time.perf_counter()
        answer()
        longest = max(longest, time.perf_counter() - started)
    gate.set()
    processor.shutdown()
    dropped = processor.stats.spans_dropped.get("queue_full", 0)
    assert dropped >= 45  # the queue holds 5
    assert processor.stats.spans_received + dropped == 51
    assert longest < 1.0  # the app never waited for the worker (it waits on the sink for up to 10 s)


def test_spans_after_shutdown_are_counted_not_queued() -> None:
    processor = BehaviorSpanProcessor()
    processor.shutdown()
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("late"):
        pass
    assert processor.stats.spans_dropped == {"shutdown": 1}


def test_a_malformed_content_attribute_leaves_the_rest_of_the_interaction(capture_on: None) -> None:
    collect = Collect()
    processor = BehaviorSpanProcessor(ScoringPipeline(sinks=[collect]))
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        with retrieval("kb", query=QUESTION, tracer_provider=provider) as r:
            r.record_documents([Document("d", CONTEXT)])
        with tracer.start_as_current_span(
            "chat m",
            attributes={
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_REQUEST_MODEL: "m",
                sc.GEN_AI_INPUT_MESSAGES: "{not json",
                sc.GEN_AI_OUTPUT_MESSAGES: '[{"role": "assistant", "parts": '
                '[{"type": "text", "content": "Customers may request a refund within 30 days of delivery, except for '
                'customized items."}]}]',
            },
        ):
            pass
    processor.shutdown()
    (evaluation,) = collect.evaluations
    assert evaluation.interaction.input_messages is None  # not captured, not empty
    assert evaluation.scores["faithfulness"].value == pytest.approx(BORNE_OUT)


def test_a_trace_that_cannot_be_assembled_costs_no_other_trace_of_its_batch(
    embedded, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mre.processor import worker as worker_module
    from mre.processor.health import BAD_INPUT, UNREADABLE_SPAN

    real = worker_module.build_interactions

    def breaks_on_one(spans, options):  # type: ignore[no-untyped-def]
        if any("poison" in str(s.attributes.get(sc.GEN_AI_OUTPUT_MESSAGES, "")) for s in spans):
            raise RuntimeError("an assembly bug")
        return real(spans, options)

    monkeypatch.setattr(worker_module, "build_interactions", breaks_on_one)
    provider, setup, collect, _ = embedded
    before = BAD_INPUT.snapshot().get(UNREADABLE_SPAN, 0)
    answers = [f"Customers may request a refund within {d} days of delivery." for d in (30, 31, 32)]
    for answer in (answers[0], "poison", *answers[1:]):  # one flush: the four traces are one batch
        rag_trace(provider, answer)
    setup.processor.force_flush()
    assert sorted(e.interaction.answer or "" for e in collect.evaluations) == sorted(answers)
    assert BAD_INPUT.snapshot().get(UNREADABLE_SPAN, 0) == before + 4  # its four spans
    assert setup.processor.stats.traces_processed == 4  # the broken one passed on, unscored


def test_a_batch_scored_scorer_by_scorer_gets_what_each_answer_scored_alone_gets() -> None:
    from benchmarks.scoring import make_interactions
    from tests.helpers import interaction

    batch = [
        *make_interactions(60, seed=3),
        interaction(None, [CONTEXT], QUESTION),  # unscored: no answer
        interaction("I don't know.", [CONTEXT], QUESTION),  # abstains
        interaction("Refunds take 30 days.", None, QUESTION),  # no context captured
        # The same question twice: the stateful consistency scorer compares them, in this order.
        interaction("Customers may request a refund within 30 days.", [CONTEXT], QUESTION),
        interaction("Customers may request a refund within 90 days.", [CONTEXT], QUESTION),
    ]
    one_by_one, together = ScoringPipeline(), ScoringPipeline()
    alone = [one_by_one.score(i) for i in batch]
    many = together.score_many(batch)

    def seen(e: Evaluation) -> tuple[object, ...]:
        scores = {k: (s.value, s.label, s.explanation, repr(s.details)) for k, s in e.scores.items()}
        return scores, e.slo_outcomes, e.cause, e.unscored, dict(e.skipped)

    assert [seen(e) for e in many] == [seen(e) for e in alone]
    assert all(e.duration_s > 0 for e in many if e.scores)
    assert many[-1].scores["consistency"].label == "inconsistent"  # it saw the earlier answer first


def test_a_batch_that_fails_to_score_is_counted_and_the_next_batch_still_scored(
    embedded, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    provider, setup, collect, registry = embedded
    pipeline = setup.processor.pipeline
    real = pipeline.score_many
    calls = []

    def fails_once(interactions):  # type: ignore[no-untyped-def]
        calls.append(len(interactions))
        if len(calls) == 1:
            raise RuntimeError("a scoring bug")
        return real(interactions)

    monkeypatch.setattr(pipeline, "score_many", fails_once)
    rag_trace(provider, "Customers may request a refund within 30 days of delivery.")
    setup.processor.force_flush()  # one batch: lost to the bug, and counted
    rag_trace(provider, "Customers may request a refund within 31 days of delivery.")
    setup.processor.force_flush()
    assert setup.processor.stats.spans_dropped == {"processing_failed": 4}
    assert registry.get_sample_value("mre_processor_spans_dropped_total", {"reason": "processing_failed"}) == 4
    assert [e.interaction.answer for e in collect.evaluations] == [
        "Customers may request a refund within 31 days of delivery."
    ]


def _burn(seconds: float) -> None:
    """Spend this much of this thread's CPU (a busy loop: a sleep spends none)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_worker_counts_each_steps_cpu_where_it_was_spent_and_no_waits(capture_on: None) -> None:
    from mre.exporters.prometheus import ProcessorHealthCollector
    from mre.processor.scorers import default_scorers
    from mre.processor.worker import STEPS

    class Busy:  # delivering costs CPU
        def on_evaluation(self, evaluation: Evaluation) -> None:
            _burn(0.03)

    class Waits:  # delivering waits (a slow downstream): no CPU
        def on_evaluation(self, evaluation: Evaluation) -> None:
            time.sleep(0.1)

    def slow(interaction: object) -> None:  # a scorer that costs CPU and gives no score
        _burn(0.02)

    processor = BehaviorSpanProcessor(ScoringPipeline({**default_scorers(), "slow": slow}, sinks=[Busy(), Waits()]))
    registry = CollectorRegistry()
    registry.register(ProcessorHealthCollector(processor))

    def cpu(step: str) -> float:
        value = registry.get_sample_value("mre_processor_cpu_seconds_total", {"step": step})
        assert value is not None, step
        return value

    assert [cpu(step) for step in STEPS] == [0.0] * 4  # every step is there before the first answer
    provider = TracerProvider()
    provider.add_span_processor(processor)
    for _ in range(5):
        rag_trace(provider, "Customers may request a refund within 30 days of delivery.")
    processor.shutdown()
    assert cpu("score") >= 5 * 0.02
    # The sinks' CPU and none of their waits (which would add 0.5 s).
    assert 5 * 0.03 <= cpu("deliver") < 5 * 0.03 + 0.2
    assert 0.0 < cpu("read") < cpu("score")
    assert cpu("ingest") > 0.0  # taking the spans in costs something too, however little
