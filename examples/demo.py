"""`mre demo`: the RAG app against the fault-injecting local model, scored in-process.

Everything runs on embedded defaults: the app is instrumented (OpenAI auto-instrumentation plus the
manual stage API), the BehaviorSpanProcessor scores every answer, /metrics is served while it runs,
and the end shows per fault kind what was injected and what the scores detected.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mre.examples.llm_server import FAULT_KINDS, FaultPlan, ServedAnswer
from mre.model import Evaluation
from mre.processor.calibration import CalibrationMonitor
from mre.processor.drift import DriftMonitor
from mre.processor.scorers.abstention import NEEDLESS_ABSTENTION, UNSUPPORTED_ANSWER
from mre.processor.scorers.faithfulness import (
    REASON_CARVE_OUT,
    REASON_NEGATION,
    REASON_NUMBER,
    REASON_QUALIFIER,
    REASON_UNSUPPORTED,
)

OFF_CORPUS_SHARE = 0.15
REVIEW_SHARE = 0.2  # of the answers a (simulated) human reviewer rates for faithfulness
# What a careful reviewer marks unfaithful: claims the context does not support.
UNFAITHFUL = frozenset({"invented_number", "dropped_qualifier", "unsupported_sentence", "answered_without_context"})
_REASON_TO_FAULT = {
    REASON_NUMBER: "invented_number",
    REASON_QUALIFIER: "dropped_qualifier",
    REASON_NEGATION: "dropped_qualifier",
    REASON_CARVE_OUT: "dropped_qualifier",
    REASON_UNSUPPORTED: "unsupported_sentence",
}


def detected_faults(evaluation: Evaluation) -> set[str]:
    """The fault kinds the scores point at. A coverage failure (answered without relevant context)
    explains the unsupported claims that come with it, so it is reported alone."""
    kinds: set[str] = set()
    abstention = evaluation.scores.get("abstention")
    if abstention is not None and abstention.label == UNSUPPORTED_ANSWER:
        return {"answered_without_context"}
    if abstention is not None and abstention.label == NEEDLESS_ABSTENTION:
        kinds.add("needless_abstention")
    faithfulness = evaluation.scores.get("faithfulness")
    if faithfulness is not None:
        for finding in faithfulness.details.get("unsupported", ()):
            kind = _REASON_TO_FAULT.get(finding.get("reason"))
            if kind:
                kinds.add(kind)
    return kinds


@dataclass
class FaultTally:
    injected: int = 0
    detected: int = 0
    false_positives: int = 0

    @property
    def recall(self) -> float | None:
        return self.detected / self.injected if self.injected else None

    @property
    def precision(self) -> float | None:
        flagged = self.detected + self.false_positives
        return self.detected / flagged if flagged else None


@dataclass
class DemoReport:
    interactions: int
    faults: dict[str, FaultTally]
    slos: dict[str, dict[str, Any]]
    unscored: int = 0
    metrics_url: str | None = None
    evaluation_records: int = 0
    drift: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "interactions": self.interactions,
            "unscored": self.unscored,
            "evaluation_records": self.evaluation_records,
            "faults": {
                kind: {
                    "injected": t.injected,
                    "detected": t.detected,
                    "false_positives": t.false_positives,
                    "precision": t.precision,
                    "recall": t.recall,
                }
                for kind, t in self.faults.items()
            },
            "slos": self.slos,
            "drift": self.drift,
            "calibration": self.calibration,
        }


def tally(evaluations: Iterable[Evaluation], served: dict[str, ServedAnswer]) -> dict[str, FaultTally]:
    faults = {kind: FaultTally() for kind in FAULT_KINDS}
    for evaluation in evaluations:
        answer = served.get(evaluation.interaction.response_id or "")
        injected = answer.fault if answer else None
        found = detected_faults(evaluation)
        if injected:
            faults[injected].injected += 1
        for kind in found:
            if kind == injected:
                faults[kind].detected += 1
            else:
                faults[kind].false_positives += 1
    return faults


DRIFT_EVALUATIONS = ("faithfulness", "answer_relevance", "abstention")


def drift_report(monitor: DriftMonitor, evaluations: Sequence[Evaluation]) -> list[dict[str, Any]]:
    """Per model version in the order met: how many answers it gave, whether its scores are worse than
    its baseline's and whether the questions it got differ (told apart: behaviour or input)."""
    rows = []
    seen: dict[tuple[str, str], int] = {}
    for evaluation in evaluations:
        key = (evaluation.interaction.service or "unknown", evaluation.interaction.model or "unknown")
        seen[key] = seen.get(key, 0) + 1
    for (service, model), answers in seen.items():
        questions = monitor.question_state(service, model)
        row: dict[str, Any] = {
            "service": service,
            "model": model,
            "answers": answers,
            "baseline": questions.baseline,
            "questions_drifted": questions.drifted if questions.comparison else None,
            "evaluations": {},
        }
        for name in DRIFT_EVALUATIONS:
            state = monitor.state(service, model, name)
            if state.comparison is not None:
                row["evaluations"][name] = {
                    "mean_difference": round(state.comparison.mean_difference, 4),
                    "p_value": state.comparison.p_value,
                    "degraded": state.degraded,
                }
        rows.append(row)
    return rows


def review(trace_id: int, served: ServedAnswer, logger_provider: Any) -> None:
    """The simulated reviewer: rates the faithfulness of an answer (not of an abstention, which makes
    no claim) the way a person who knows the documents would."""
    from mre.human_feedback import feedback

    if served.fault == "needless_abstention" or (not served.answerable and served.fault is None):
        return
    feedback(
        trace_id,
        evaluation="faithfulness",
        passed=served.fault not in UNFAITHFUL,
        annotator="demo-reviewer",
        logger_provider=logger_provider,
    )


def calibration_report(monitor: CalibrationMonitor) -> dict[str, Any]:
    counts, unmatched, pending = monitor.snapshot()
    out: dict[str, Any] = {"unmatched": unmatched, "pending": pending, "evaluations": {}}
    for service, evaluation in monitor.calibrated():
        result = monitor.agreement(service, evaluation)
        total = sum(n for (s, e, _, _), n in counts.items() if s == service and e == evaluation)
        agree = sum(n for (s, e, h, a), n in counts.items() if s == service and e == evaluation and h == a)
        out["evaluations"][evaluation] = {
            "verdicts": total,
            "agreement": agree / total if total else None,
            "kappa_recent": round(result.kappa, 4),
            "missed_failures_recent": result.missed_failures,
        }
    return out


class _Collector:
    """Keeps the evaluations for the report (the demo is bounded by --interactions)."""

    def __init__(self) -> None:
        self.evaluations: list[Evaluation] = []
        self._lock = threading.Lock()

    def on_evaluation(self, evaluation: Evaluation) -> None:
        with self._lock:
            self.evaluations.append(evaluation)


def run_demo(
    *,
    interactions: int = 300,
    seed: int = 7,
    metrics_port: int | None = 9464,
    metrics_addr: str = "127.0.0.1",
    plan: FaultPlan | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    keep_serving: Callable[[str | None], None] | None = None,
    export_otlp: str | None = None,
    strip_content: bool = True,
    degrade_after: int | None = None,
    review_share: float = REVIEW_SHARE,
    on_metrics: Callable[[str], None] | None = None,
) -> DemoReport:
    """``export_otlp`` (host:port) sends the scored spans and evaluation records on over OTLP/gRPC;
    score then strip is on by default there: what leaves has every score and no text.
    ``degrade_after``: the local model server switches to a degraded model version after that many
    answers, and the report says what the drift monitor made of it. ``on_metrics`` gets the /metrics
    URL once it is served. ``review_share``: a simulated
    reviewer rates that share of the answers for faithfulness with ``mre.feedback`` (knowing which
    faults were injected), and the report gives the scorer's agreement with those human verdicts."""
    import openai
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from mre.examples.llm_server import FaultyLLMServer
    from mre.examples.rag_app import RagApp
    from mre.exporters.embedded import install_embedded
    from mre.instrumentation import set_default_capture
    from mre.instrumentation.openai import OpenAIInstrumentor

    resource = Resource.create({"service.name": "policy-assistant"})
    tracer_provider = TracerProvider(resource=resource)
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    export = None
    if export_otlp:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        export = BatchSpanProcessor(OTLPSpanExporter(endpoint=export_otlp, insecure=True))
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=export_otlp, insecure=True))
        )
    collector = _Collector()
    setup = install_embedded(
        tracer_provider,
        logger_provider=logger_provider,
        extra_sinks=[collector],
        metrics_addr=metrics_addr,
        metrics_port=metrics_port,
        grace_s=0.2,
        export=export,
        strip_content=strip_content,
    )
    set_default_capture(True)  # scoring needs the text; the demo is the embedded default
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    plan = plan or FaultPlan(seed=seed)
    if degrade_after is not None:
        plan = replace(plan, degrade_after=degrade_after)
    rng = random.Random(seed)
    reviewer = random.Random(seed + 1)  # its own stream: reviewing does not change the questions
    metrics_url = f"http://{metrics_addr}:{setup.metrics_port}/metrics" if setup.metrics_port else None
    if metrics_url is not None and on_metrics is not None:
        on_metrics(metrics_url)  # the bound port (0 asks for a free one)
    try:
        with FaultyLLMServer(plan) as server:
            client = openai.OpenAI(base_url=server.url, api_key="demo", max_retries=0)
            app = RagApp(client, model=plan.model, tracer_provider=tracer_provider)
            corpus = app.corpus
            for i in range(interactions):
                if rng.random() < OFF_CORPUS_SHARE:
                    question = rng.choice(corpus.off_corpus_questions)
                else:
                    question = rng.choice(corpus.questions)
                _, trace_id = app.answer_traced(question, principal=rng.choice(("employee", "clinical", "hr")))
                if reviewer.random() < review_share:
                    review(trace_id, next(reversed(server.log.values())), logger_provider)
                if on_progress:
                    on_progress(i + 1, interactions)
            setup.processor.force_flush()
            served = dict(server.log)
        evaluations = collector.evaluations
        slos: dict[str, dict[str, Any]] = {}
        for slo in setup.processor.pipeline.slos:
            outcomes = [o for e in evaluations for o in e.slo_outcomes if o.slo == slo.name]
            good = sum(1 for o in outcomes if o.good)
            slos[slo.name] = {
                "good": good,
                "total": len(outcomes),
                "objective": slo.objective,
                "ratio": good / len(outcomes) if outcomes else None,
            }
        report = DemoReport(
            interactions=len(evaluations),
            faults=tally(evaluations, served),
            slos=slos,
            unscored=interactions - len(evaluations),
            metrics_url=metrics_url,
            evaluation_records=len(logs.get_finished_logs()),
            drift=drift_report(setup.drift, evaluations),
            calibration=calibration_report(setup.calibration),
        )
        if keep_serving is not None:
            keep_serving(metrics_url)
        return report
    finally:
        instrumentor.uninstrument()
        setup.close()
        logger_provider.shutdown()


def write_report(report: DemoReport, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
