"""One place to add a part: a scorer registered alone shows on every surface (pipeline, metrics,
evaluation records, SLO files, dashboards); a dialect registered alone is read, scored and stripped
to its declared text-free keys; an SLO event kind registered alone is read in every SLO format,
evaluated, counted and ruled on; the instrumentors of `instrument()` are the entry points'."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from mre import semconv as sc
from mre import slo_events
from mre.exporters.embedded import install_embedded
from mre.exporters.prometheus import PrometheusSink
from mre.exporters.slo_dashboards import build_dashboards
from mre.exporters.slo_rules import build_rules
from mre.instrumentation import generation, retrieval
from mre.model import Document, Interaction, Score
from mre.processor import dialects, scorers
from mre.processor.coverage import NEEDS_ANSWER
from mre.processor.dialects import DialectSpec, GenerationStage, RetrievalStage
from mre.processor.pipeline import ScoringPipeline
from mre.processor.spans import SpanRecord, hex_span_id
from mre.slo_files import parse_any
from mre.slo_spec import SpecError, load_default, parse
from tests.helpers import FAITHFULNESS_THRESHOLD

CONTEXT = "Customers may request a refund within 30 days of delivery."


def tone(interaction: Interaction) -> Score | None:
    if interaction.answer is None:
        return None
    rude = "whatever" in interaction.answer.lower()
    return Score("tone", 0.0 if rude else 1.0, "rude" if rude else "polite", "checks the answer's manners")


@pytest.fixture
def registered_scorer() -> Iterator[None]:
    scorers.register(scorers.ScorerSpec("tone", tone, (NEEDS_ANSWER,), scorers.GENERATION, "polite answers"))
    yield
    scorers.unregister("tone")


def test_a_scorer_registered_alone_is_on_every_surface(
    registered_scorer: None,
    tracer_provider: TracerProvider,
    logger_provider: LoggerProvider,
    log_exporter: InMemoryLogRecordExporter,
    capture_on: None,
) -> None:
    assert "tone" in scorers.default_scorers() and "tone" in scorers.NEEDS
    # an SLO file may use it without declaring it
    slo = parse(
        "version: mre/v1\nservice: s\nslos:\n  - name: tone\n    objective: 99\n"
        "    sli: {score: {evaluation: tone, threshold: 1}}\n",
        "slos.yaml",
    )
    assert slo.slos[0].slo.scorer == "tone"
    # the generation stage panel of the dashboards
    stages = json.loads(build_dashboards(load_default())["stages.json"])
    assert any("tone" in t["expr"] for p in stages["panels"] for t in p.get("targets", []))
    # scored in a pipeline: metrics and evaluation records
    setup = install_embedded(tracer_provider, logger_provider=logger_provider, grace_s=0.05)
    try:
        with tracer_provider.get_tracer("t").start_as_current_span("request"):
            with retrieval("kb", query="How long for refunds?", tracer_provider=tracer_provider) as r:
                r.record_documents([Document("d", CONTEXT)])
            with generation(
                "m", messages=[{"role": "user", "content": "How long for refunds?"}], tracer_provider=tracer_provider
            ) as g:
                g.record_output("Whatever, 30 days.")
        setup.processor.force_flush()
        count = setup.registry.get_sample_value(
            "mre_evaluation_score_count", {"service": "test-service", "model": "m", "evaluation": "tone"}
        )
        assert count == 1
    finally:
        setup.close()
    logger_provider.force_flush()
    records = [r.log_record for r in log_exporter.get_finished_logs()]  # type: ignore[attr-defined]
    tone_records = [r for r in records if (r.attributes or {}).get(sc.GEN_AI_EVALUATION_NAME) == "tone"]
    assert len(tone_records) == 1


def test_registering_a_scorer_twice_or_in_no_stage_is_refused(registered_scorer: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        scorers.register(scorers.ScorerSpec("tone", tone, (), scorers.GENERATION, ""))
    with pytest.raises(ValueError, match="stage"):
        scorers.register(scorers.ScorerSpec("tone2", tone, (), "vibes", ""))


@pytest.fixture
def rude_answers(registered_scorer: None) -> Iterator[None]:
    slo_events.register(slo_events.EventKind("rude_answer", "tone", 1.0, "an answer that is rude"))
    yield
    slo_events.unregister("rude_answer")


RUDE_SLO = {
    "mre/v1": "version: mre/v1\nservice: s\nslos:\n  - name: rude\n    objective: 99\n    sli: {event: rude_answer}\n",
    "sloth": (
        "version: prometheus/v1\nservice: s\nslos:\n  - name: rude\n    objective: 99\n"
        "    sli: {plugin: {id: mre/event/v1, options: {event: rude_answer}}}\n"
        "    alerting: {name: RudeBudgetBurn}\n"
    ),
    "openslo": (
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: rude\n  annotations:\n"
        "    mre.dev/event: rude_answer\n    mre.dev/alert-name: RudeBudgetBurn\n"
        "spec:\n  service: s\n  budgetingMethod: Occurrences\n"
        "  timeWindow: [{duration: 28d, isRolling: true}]\n  objectives: [{target: 0.99}]\n"
    ),
}


@pytest.mark.parametrize("form", RUDE_SLO)
def test_an_event_kind_registered_alone_is_read_evaluated_counted_and_ruled_on(rude_answers: None, form: str) -> None:
    file = parse_any(RUDE_SLO[form], "slos.yaml")
    (spec,) = file.slos
    assert (spec.slo.scorer, spec.slo.threshold) == ("tone", 1.0)
    # evaluated by the pipeline and counted as a bad event of its SLO
    registry = CollectorRegistry()
    pipeline = ScoringPipeline(slos=file.runtime_slos, sinks=[PrometheusSink(registry)])
    rude = Interaction("1" * 32, "2" * 16, question="How long?", answer="Whatever, 30 days.")
    evaluation = pipeline.score(rude)
    pipeline.deliver(evaluation)
    assert [(o.slo, o.good) for o in evaluation.slo_outcomes] == [("rude", False)]
    labels = {"service": "unknown", "slo": "rude", "outcome": "bad", "route": "unknown", "model": "unknown"}
    assert registry.get_sample_value("mre_slo_events_total", labels) == 1.0
    # the rules compute its SLI and alert on it
    rules = json.dumps(build_rules(file))
    assert '"sloth_slo": "rude"' in rules
    assert "RudeBudgetBurn" in rules


def test_an_event_kind_is_refused_unregistered_or_over_an_evaluation_no_scorer_gives(registered_scorer: None) -> None:
    with pytest.raises(SpecError, match=r"one of guardrail_violation, .*got 'rude_answer'"):
        parse_any(RUDE_SLO["mre/v1"], "slos.yaml")
    slo_events.register(slo_events.EventKind("rude_answer", "manners", 1.0, "an answer that is rude"))
    try:
        with pytest.raises(SpecError, match="rests on evaluation 'manners', which no registered scorer provides"):
            parse_any(RUDE_SLO["mre/v1"], "slos.yaml")
    finally:
        slo_events.unregister("rude_answer")
    with pytest.raises(ValueError, match="already registered"):
        slo_events.register(slo_events.EventKind("stale_source", "freshness", 0.5, ""))


def test_the_readme_lists_exactly_the_registered_event_kinds() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `") and " | `" in line and "` < " in line]
    listed = [tuple(cell.strip() for cell in row.strip("|").split("|")) for row in rows]
    assert listed == [(f"`{k.name}`", f"`{k.evaluation}` < {k.threshold:g}", k.means) for k in slo_events.kinds()]


def test_every_registered_scorer_names_its_scores_as_it_is_registered() -> None:
    # Human verdicts are matched by evaluation name: a registry key that differs from Score.name
    # would silently break that.
    interaction = Interaction(
        trace_id="0" * 32,
        span_id="0" * 16,
        dialect="test",
        question="How long do customers have to ask for a refund?",
        answer="Customers may request a refund within 30 days of delivery [d1].",
        principal="employee",
        retrievals=(
            __import__("mre.model", fromlist=["Retrieval"]).Retrieval(
                span_id="1" * 16,
                query="refund",
                documents=(Document("d1", CONTEXT, 0.9, metadata={"acl": "employee", "updated_at": "2024-01-01"}),),
            ),
        ),
    )
    for name, scorer in scorers.default_scorers().items():
        score = scorer(interaction)
        if score is not None:
            assert score.name == name, f"{name} returns scores named {score.name!r}"


ACME_MODEL = "acme.model"
ACME_PROMPT = "acme.prompt"
ACME_COMPLETION = "acme.completion"
ACME_DOCS = "acme.documents"


def _read_acme(span: SpanRecord) -> list[dialects.Stage]:
    attrs = span.attributes
    if ACME_DOCS in attrs:
        from mre.model import Retrieval

        docs = tuple(Document(f"a{i}", text) for i, text in enumerate(json.loads(attrs[ACME_DOCS])))
        return [RetrievalStage("acme", Retrieval(span_id=hex_span_id(span.span_id), query=None, documents=docs))]
    from mre.model import Message

    return [
        GenerationStage(
            span_id=hex_span_id(span.span_id),
            dialect="acme",
            start_ns=span.start_ns,
            end_ns=span.end_ns,
            model=str(attrs.get(ACME_MODEL)),
            input_messages=(Message("user", str(attrs.get(ACME_PROMPT, ""))),),
            answer=str(attrs.get(ACME_COMPLETION, "")),
        )
    ]


@pytest.fixture
def registered_dialect() -> Iterator[None]:
    dialects.register_dialect(
        DialectSpec(
            "acme",
            detect=lambda span: ACME_MODEL in span.attributes or ACME_DOCS in span.attributes,
            read=_read_acme,
            safe_keys=frozenset({ACME_MODEL}),
        )
    )
    yield
    dialects.unregister_dialect("acme")


def test_a_dialect_registered_alone_is_read_scored_and_stripped(registered_dialect: None, capture_on: None) -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    setup = install_embedded(provider, grace_s=0.05, export=SimpleSpanProcessor(exported), strip_content=True)
    try:
        tracer = provider.get_tracer("acme-sdk")
        with tracer.start_as_current_span("request"):
            with tracer.start_as_current_span("acme.search") as search:
                search.set_attribute(ACME_DOCS, json.dumps([CONTEXT]))
            with tracer.start_as_current_span("acme.llm") as llm:
                llm.set_attribute(ACME_MODEL, "acme-1")
                llm.set_attribute(ACME_PROMPT, "How long for refunds? jane@example.com")
                llm.set_attribute(ACME_COMPLETION, "Customers may request a refund within 45 days of delivery.")
        setup.processor.force_flush()
        faithfulness = setup.registry.get_sample_value(
            "mre_evaluation_score_sum",
            {"service": "unknown_service:python", "model": "acme-1", "evaluation": "faithfulness"},
        )
        assert (
            faithfulness is not None and faithfulness < FAITHFULNESS_THRESHOLD
        )  # read as a RAG answer and scored: 45 days is not in the context
    finally:
        setup.close()
    spans = {s.name: dict(s.attributes or {}) for s in exported.get_finished_spans()}
    assert spans["acme.llm"][ACME_MODEL] == "acme-1"  # declared text-free: kept
    assert ACME_PROMPT not in spans["acme.llm"] and ACME_COMPLETION not in spans["acme.llm"]  # text: stripped
    assert ACME_DOCS not in spans["acme.search"]
    assert "mre.score.faithfulness" in spans["acme.llm"]


def test_instrument_installs_exactly_the_entry_point_instrumentors() -> None:
    from mre.instrumentation import INSTRUMENTORS

    declared = {
        ep.name: ep.value
        for ep in entry_points(group="opentelemetry_instrumentor")
        if ep.value.startswith("mre.instrumentation.")
    }
    listed = {path for _, path in INSTRUMENTORS.values()}
    assert set(declared.values()) == listed


OVERCONFIDENT = "Customers can definitely claim a refund within 45 days of delivery."


def _rag(answer: str) -> Interaction:
    from mre.model import Retrieval

    return Interaction(
        trace_id="0" * 32,
        span_id="0" * 16,
        question="How long for refunds?",
        answer=answer,
        retrievals=(Retrieval(span_id="1" * 16, query="refund", documents=(Document("d", CONTEXT),)),),
    )


def _judge_says(value: float) -> scorers.Scorer:
    return lambda interaction: Score("faithfulness", value, "judged", "the judge's verdict")


def test_calibration_reads_the_faithfulness_the_pipeline_reports_judged_or_not() -> None:
    from mre.processor.judges.cascade import Cascade
    from mre.processor.pipeline import ScoringPipeline

    offline = ScoringPipeline(slos=()).score(_rag(OVERCONFIDENT)).scores
    assert offline["confidence_calibration"].label == "overconfident"  # confident, 45 days unsupported
    # A judge that finds the answer well supported: calibration reads its verdict, not the offline one.
    judged_scorers = {
        **scorers.default_scorers(),
        "faithfulness": Cascade(scorers.DEFAULT_SCORERS["faithfulness"], _judge_says(0.9), band=(0.0, 1.0)),
    }
    judged = ScoringPipeline(judged_scorers, slos=()).score(_rag(OVERCONFIDENT)).scores
    assert judged["faithfulness"].value == 0.9
    assert judged["confidence_calibration"].label == "calibrated"
    assert judged["confidence_calibration"].details["support"] == 0.9


def test_a_deferred_judge_verdict_rescores_what_read_the_provisional_score() -> None:
    from mre.processor.judges.cascade import ESCALATED, Cascade
    from mre.processor.pipeline import Deferred, ScoringPipeline

    cascade = Cascade(scorers.DEFAULT_SCORERS["faithfulness"], _judge_says(0.9), band=(0.0, 1.0))
    pipeline = ScoringPipeline({**scorers.default_scorers(), "faithfulness": cascade}, slos=())
    deferred: list[Deferred] = []
    provisional = pipeline.score(_rag(OVERCONFIDENT), deferred)
    assert [d.name for d in deferred] == ["faithfulness"]
    assert provisional.scores["confidence_calibration"].label == "overconfident"  # read the cheap score
    verdict = cascade.finish(provisional.interaction, deferred[0].cheap, ESCALATED)
    final = pipeline.rescore(provisional, {"faithfulness": verdict})
    assert final.scores["confidence_calibration"].label == "calibrated"
    assert 0 <= final.duration_s < 60  # a duration, not a clock reading


def test_a_scorer_may_only_read_one_registered_before_it_that_reads_nothing() -> None:
    with pytest.raises(ValueError, match="reads 'nope'"):
        scorers.register(scorers.ScorerSpec("tone3", tone, (), scorers.GENERATION, "", reads=("nope",)))
    with pytest.raises(ValueError, match="reads 'confidence_calibration'"):
        scorers.register(
            scorers.ScorerSpec("tone4", tone, (), scorers.GENERATION, "", reads=("confidence_calibration",))
        )
    assert "tone3" not in scorers.registry() and "tone4" not in scorers.registry()


def _conventions_metrics() -> set[str]:
    from mre.exporters import conventions

    return {v for k, v in vars(conventions).items() if k.startswith("METRIC_") and isinstance(v, str)}


def _family(name: str, known: set[str]) -> str | None:
    for suffix in ("_total", "_bucket", "_sum", "_count", "_created", ""):
        base = name.removesuffix(suffix) if suffix else name
        if (not suffix or name.endswith(suffix)) and base in known:
            return base
    return None


def test_every_metric_mre_exposes_is_named_in_the_conventions_module() -> None:
    from prometheus_client import CollectorRegistry

    from mre.exporters.serve import start_service
    from mre.processor.service import ServiceConfig

    registry = CollectorRegistry()
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", listen_http=None),
        metrics="127.0.0.1:0",
        forward="127.0.0.1:9",  # never reached: only its health families are read
        registry=registry,
    )
    try:
        exposed = {family.name for family in registry.collect()}
    finally:
        running.stop(drain_timeout_s=1)
    known = _conventions_metrics()
    mre_families = {name for name in exposed if name.startswith("mre_")}
    assert len(mre_families) > 30
    assert {name for name in mre_families if _family(name, known) is None} == set()


def test_every_metric_the_rules_and_dashboards_query_is_one_mre_exposes() -> None:
    import re
    from pathlib import Path

    known = _conventions_metrics()
    queried = set()
    for path in (Path(__file__).resolve().parent.parent / "dashboards").rglob("*"):
        if path.suffix in (".json", ".yaml", ".yml"):
            queried |= set(re.findall(r"\bmre_[a-z_]+", path.read_text()))
    labels = {"mre_evaluation", "mre_threshold"}  # the SLI rules' own labels, not metrics
    assert queried - labels and {q for q in queried - labels if _family(q, known) is None} == set()


def test_each_interaction_is_analysed_once_for_all_its_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from mre.processor.pipeline import ScoringPipeline

    # the modules (the package exports the scorer function under the module's name)
    faithfulness = importlib.import_module("mre.processor.scorers.faithfulness")
    _context = importlib.import_module("mre.processor.scorers._context")
    counts = {"verdicts": 0, "index": 0}
    real_verdicts, real_index = faithfulness.claim_verdicts, _context.sentence_index

    def counted_verdicts(*args, **kwargs):  # type: ignore[no-untyped-def]
        counts["verdicts"] += 1
        return real_verdicts(*args, **kwargs)

    def counted_index(*args, **kwargs):  # type: ignore[no-untyped-def]
        counts["index"] += 1
        return real_index(*args, **kwargs)

    monkeypatch.setattr(faithfulness, "claim_verdicts", counted_verdicts)
    monkeypatch.setattr(_context, "sentence_index", counted_index)
    interaction = _rag("Customers may request a refund within 30 days of delivery.")
    scores = ScoringPipeline(slos=()).score(interaction).scores
    # faithfulness, calibration and the scorers that ask which documents the answer rests on
    # (lost_in_the_middle, chunk_boundary, citations, freshness, ...) all read one set of verdicts.
    assert {"faithfulness", "confidence_calibration", "chunk_boundary", "abstention"} <= set(scores)
    assert counts == {"verdicts": 1, "index": 1}
    # Nothing of it outlives the interaction: scored again, it is analysed again.
    ScoringPipeline(slos=()).score(interaction)
    assert counts == {"verdicts": 2, "index": 2}


def test_another_interaction_analysed_inside_a_pipeline_run_does_not_displace_its_analysis() -> None:
    from mre.processor.scorers.analysis import analysing, analysis_of

    first, other = _rag("Refunds take 30 days."), _rag("Refunds take 45 days.")
    with analysing(first) as held:
        assert analysis_of(first) is held
        assert analysis_of(other) is not held and analysis_of(other).interaction is other
        assert analysis_of(first) is held  # still the pipeline's
    alone = analysis_of(other)
    assert analysis_of(other) is alone  # on its own: kept for the next part it asks for


def test_a_context_cut_at_the_unit_bound_counts_once_per_answer() -> None:
    from mre.model import Retrieval
    from mre.processor import limits
    from mre.processor.pipeline import ScoringPipeline

    filler = "Filler sentence here. " * limits.MAX_UNITS  # past the bound for units and for sentences
    interaction = Interaction(
        trace_id="0" * 32,
        span_id="0" * 16,
        question="How long for refunds?",
        answer="Customers may request a refund within 30 days of delivery.",
        retrievals=(Retrieval(span_id="1" * 16, query="refund", documents=(Document("d", filler + CONTEXT),)),),
    )
    before = limits.CUTS.snapshot()[limits.UNITS]
    scores = ScoringPipeline(slos=()).score(interaction).scores
    assert {"faithfulness", "abstention"} <= set(scores)  # both readings of the context met the bound
    assert limits.CUTS.snapshot()[limits.UNITS] == before + 1
