"""Human calibration: `mre.feedback` verdicts are matched with the automated verdicts on the same answer,
in-process and through `mre serve`'s OTLP LogsService, and agreement per scorer becomes a metric."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

import mre
from mre import semconv as sc
from mre.exporters.serve import RunningService, start_service
from mre.human_feedback import HumanVerdict
from mre.model import Evaluation, Interaction, Score, SLOOutcome
from mre.processor.calibration import NOT_SCORED, UNKNOWN_TRACE, CalibrationMonitor, agreement
from mre.processor.service import LOGS_EXPORT_METHOD, ServiceConfig
from mre.slo import SLO
from tests.test_service import CONTEXT, app_provider, score_traces, wait_for

FAITHFULNESS_SLO = SLO("faithfulness", "faithfulness", threshold=0.85, objective=0.95)
TRACE = "ab" * 16


def _evaluation(trace_id: str, faithfulness: float, span_id: str = "01" * 8, service: str = "shop") -> Evaluation:
    interaction = Interaction(trace_id=trace_id, span_id=span_id, service=service, model="m1")
    scores = {"faithfulness": Score("faithfulness", faithfulness, "x")}
    return Evaluation(interaction, scores, [SLOOutcome("faithfulness", faithfulness >= 0.85)])


def _verdict(trace_id: str, passed: bool, evaluation: str = "faithfulness", span_id: str | None = None) -> HumanVerdict:
    return HumanVerdict(trace_id, evaluation, passed, span_id)


def _memory_logs() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    provider = LoggerProvider()
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def test_agreement_and_kappa_discount_what_chance_would_give() -> None:
    assert agreement([]).verdicts == 0
    perfect = agreement([(True, True)] * 8 + [(False, False)] * 2)
    assert perfect.ratio == 1.0 and perfect.kappa == 1.0
    # A scorer that passes everything agrees with 90% of verdicts when 90% pass, and is worth nothing.
    lazy = agreement([(True, True)] * 9 + [(False, True)])
    assert lazy.ratio == 0.9 and lazy.kappa == 0.0 and lazy.missed_failures == 1


def test_feedback_emits_a_human_marked_evaluation_record_on_the_answers_trace() -> None:
    provider, exporter = _memory_logs()
    verdict = mre.feedback(
        TRACE, evaluation="faithfulness", passed=False, annotator="ana", comment="wrong dose", logger_provider=provider
    )
    assert (verdict.trace_id, verdict.evaluation, verdict.passed, verdict.annotator) == (
        TRACE,
        "faithfulness",
        False,
        "ana",
    )
    (item,) = exporter.get_finished_logs()
    record = item.log_record
    assert record.event_name == sc.EVENT_EVALUATION_RESULT and f"{record.trace_id:032x}" == TRACE
    assert dict(record.attributes) == {
        sc.GEN_AI_EVALUATION_NAME: "faithfulness",
        sc.MRE_EVALUATION_SOURCE: "human",
        sc.GEN_AI_EVALUATION_SCORE_LABEL: "fail",
        sc.MRE_EVALUATION_ANNOTATOR: "ana",
        sc.GEN_AI_EVALUATION_EXPLANATION: "wrong dose",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trace_id": "xyz", "passed": True}, "trace_id must be 32 hex digits"),
        ({"trace_id": "0" * 32, "passed": True}, "trace_id must be 32 hex digits"),
        ({"trace_id": TRACE}, "give passed=True/False or a score"),
        ({"trace_id": TRACE, "score": 1.5}, "must be a number in [0, 1]"),
        ({"trace_id": TRACE, "passed": True, "span_id": "12"}, "span_id must be 16 hex digits"),
        ({"passed": True}, "no current span"),
    ],
)
def test_malformed_feedback_is_refused_with_a_clear_error_and_nothing_is_sent(
    kwargs: dict[str, object], message: str
) -> None:
    provider, exporter = _memory_logs()
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mre.feedback(logger_provider=provider, **kwargs)  # type: ignore[arg-type]
    assert exporter.get_finished_logs() == ()


def test_verdicts_are_matched_whether_they_arrive_before_or_after_the_scores() -> None:
    monitor = CalibrationMonitor([FAITHFULNESS_SLO])
    monitor.on_evaluation(_evaluation("01" * 16, 0.95))
    monitor.on_verdict(_verdict("01" * 16, passed=True))  # after: agree
    monitor.on_verdict(_verdict("02" * 16, passed=False))  # before: waits for the trace
    assert monitor.snapshot()[2] == 1
    monitor.on_evaluation(_evaluation("02" * 16, 0.9))  # the scorer passed what the human failed
    counts, unmatched, pending = monitor.snapshot()
    assert counts == {("shop", "faithfulness", True, True): 1, ("shop", "faithfulness", False, True): 1}
    assert unmatched == {} and pending == 0
    result = monitor.agreement("shop", "faithfulness")
    assert (result.verdicts, result.ratio, result.missed_failures) == (2, 0.5, 1)


def test_an_overall_verdict_is_compared_with_every_slo_being_good_and_a_span_picks_one_answer() -> None:
    monitor = CalibrationMonitor([FAITHFULNESS_SLO])
    monitor.on_evaluation(_evaluation(TRACE, 0.95, span_id="01" * 8))
    monitor.on_evaluation(_evaluation(TRACE, 0.20, span_id="02" * 8))  # a second answer in the same trace
    monitor.on_verdict(_verdict(TRACE, passed=False, evaluation="overall"))  # the trace: one answer failed
    monitor.on_verdict(_verdict(TRACE, passed=True, span_id="01" * 8))  # the first answer alone
    counts, _, _ = monitor.snapshot()
    assert counts == {("shop", "overall", False, False): 1, ("shop", "faithfulness", True, True): 1}


def test_unmatched_verdicts_are_counted_and_pending_ones_are_bounded_in_number_and_age() -> None:
    now = [0.0]
    monitor = CalibrationMonitor([FAITHFULNESS_SLO], max_pending=2, pending_ttl_s=60, clock=lambda: now[0])
    monitor.on_evaluation(_evaluation(TRACE, 0.9))
    monitor.on_verdict(_verdict(TRACE, passed=True, evaluation="citations"))  # not scored on this trace
    for i in range(3):  # the oldest waiting verdict is pushed out by the third
        monitor.on_verdict(_verdict(f"{i + 1:032x}", passed=True))
    assert monitor.snapshot()[1:] == ({NOT_SCORED: 1, UNKNOWN_TRACE: 1}, 2)
    now[0] = 61.0
    monitor.on_verdict(_verdict(TRACE, passed=True))  # any later call expires what waited too long
    assert monitor.snapshot()[1:] == ({NOT_SCORED: 1, UNKNOWN_TRACE: 3}, 0)


@pytest.fixture
def served() -> Iterator[RunningService]:
    running = start_service(ServiceConfig(listen="127.0.0.1:0", grace_s=0.2, timeout_s=5.0), metrics="127.0.0.1:0")
    yield running
    running.stop(drain_timeout_s=5)


def _raw_logs(port: int, request: ExportLogsServiceRequest) -> ExportLogsServiceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            LOGS_EXPORT_METHOD,
            request_serializer=ExportLogsServiceRequest.SerializeToString,
            response_deserializer=ExportLogsServiceResponse.FromString,
        )
        return call(request, timeout=5)  # type: ignore[no-any-return]


def test_mre_serve_takes_human_verdicts_from_the_sdk_log_exporter_and_exports_agreement(
    served: RunningService, capture_on: None
) -> None:
    tracer_provider = app_provider(served.port)
    good, bad = score_traces(
        served, tracer_provider, CONTEXT, "Customers may request a refund within 45 days of delivery."
    )
    # The feedback service is another process in production: its own resource and log exporter.
    logs = LoggerProvider(resource=Resource.create({"service.name": "feedback-ui"}))
    logs.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"127.0.0.1:{served.port}", insecure=True))
    )
    mre.feedback(good, evaluation="faithfulness", passed=True, logger_provider=logs)
    mre.feedback(bad, evaluation="faithfulness", passed=False, logger_provider=logs)
    mre.feedback(bad, evaluation="overall", score=0.0, logger_provider=logs)
    logs.force_flush()

    def verdicts(human: str, automated: str, evaluation: str = "faithfulness") -> float | None:
        labels = {"service": "shop", "evaluation": evaluation, "human": human, "automated": automated}
        agreed = "agree" if human == automated else "disagree"
        return served.registry.get_sample_value("mre_human_verdicts_total", {**labels, "agreement": agreed})

    wait_for(lambda: verdicts("fail", "fail", "overall") == 1.0)
    assert verdicts("pass", "pass") == 1.0 and verdicts("fail", "fail") == 1.0
    assert verdicts("pass", "fail") == 0.0 and verdicts("fail", "pass") == 0.0  # zeros exported too
    ratio = served.registry.get_sample_value(
        "mre_human_agreement_ratio", {"service": "shop", "evaluation": "faithfulness"}
    )
    assert ratio == 1.0
    logs.shutdown()
    tracer_provider.shutdown()


def test_an_unreadable_human_record_is_rejected_in_partial_success_and_the_rest_is_taken(
    served: RunningService, capture_on: None
) -> None:
    def record(trace_id: bytes, **attributes: str | float) -> LogRecord:
        kvs = [
            KeyValue(key=k, value=AnyValue(double_value=v) if isinstance(v, float) else AnyValue(string_value=v))
            for k, v in attributes.items()
        ]
        return LogRecord(trace_id=trace_id, event_name=sc.EVENT_EVALUATION_RESULT, attributes=kvs)

    human = {sc.MRE_EVALUATION_SOURCE: "human", sc.GEN_AI_EVALUATION_NAME: "faithfulness"}
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            record(bytes.fromhex(TRACE), **human, **{sc.GEN_AI_EVALUATION_SCORE_VALUE: 7.0}),
                            record(b"", **human, **{sc.GEN_AI_EVALUATION_SCORE_LABEL: "pass"}),
                            record(bytes.fromhex(TRACE), **human, **{sc.GEN_AI_EVALUATION_SCORE_LABEL: "pass"}),
                            record(bytes.fromhex(TRACE), **{sc.GEN_AI_EVALUATION_NAME: "faithfulness"}),  # not ours
                        ]
                    )
                ]
            )
        ]
    )
    response = _raw_logs(served.port, request)
    assert response.partial_success.rejected_log_records == 2
    assert "[0, 1]" in response.partial_success.error_message
    assert served.registry.get_sample_value("mre_processor_bad_input_total", {"kind": "invalid_feedback"}) >= 2
    assert served.registry.get_sample_value("mre_human_verdicts_pending") == 1.0  # the readable one waits


def test_only_the_last_max_traces_scored_traces_are_remembered() -> None:
    monitor = CalibrationMonitor([FAITHFULNESS_SLO], max_traces=2)
    for i in range(3):
        monitor.on_evaluation(_evaluation(f"{i + 1:032x}", 0.9))
    monitor.on_verdict(_verdict(f"{1:032x}", passed=True))  # pushed out by the third: it waits, in vain
    monitor.on_verdict(_verdict(f"{3:032x}", passed=True))
    counts, _, pending = monitor.snapshot()
    assert counts == {("shop", "faithfulness", True, True): 1} and pending == 1
    with pytest.raises(ValueError, match="must be positive"):
        CalibrationMonitor(max_traces=0)
