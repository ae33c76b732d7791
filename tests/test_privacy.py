"""Score then strip: what leaves the application (or `mre serve`) keeps every score and no text."""

from __future__ import annotations

import openai
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from mre import semconv as sc
from mre.examples.llm_server import FaultyLLMServer
from mre.examples.rag_app import RagApp
from mre.exporters.embedded import install_embedded
from mre.instrumentation.openai import OpenAIInstrumentor
from tests.helpers import FAITHFULNESS_THRESHOLD
from tests.otlp_receiver import Receiver, attrs
from tests.test_service import CONTEXT, QUESTION, app_provider, interactions, send_rag_trace, wait_for

SCORES = {"faithfulness", "answer_relevance", "abstention", "safety"}


def payload(receiver: Receiver) -> str:
    return "\n".join(MessageToJson(m) for m in [*receiver.spans, *receiver.logs])


def test_an_application_in_score_then_strip_mode_exports_scores_and_no_text(
    llm_server: FaultyLLMServer, capture_on: None
) -> None:
    receiver = Receiver()
    provider = TracerProvider(resource=Resource.create({"service.name": "private-app"}))
    loggers = LoggerProvider(resource=Resource.create({"service.name": "private-app"}))
    loggers.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"127.0.0.1:{receiver.port}", insecure=True))
    )
    setup = install_embedded(
        provider,
        logger_provider=loggers,
        export=SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.port}", insecure=True)),
        strip_content=True,
        grace_s=0.05,
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
    try:
        app = RagApp(openai.OpenAI(base_url=llm_server.url, api_key="x", max_retries=0), tracer_provider=provider)
        question = "How many days do customers have to request a refund?"
        answer = app.answer(question)
        documents = [d.content for d in app.retrieve(question)]
        setup.processor.force_flush()
        # force_flush scored and exported synchronously (SimpleSpanProcessor, SimpleLogRecordProcessor):
        # everything that will ever leave has been received.
        wait_for(lambda: len(receiver.spans) >= 4 and len(receiver.logs) >= len(SCORES))
    finally:
        instrumentor.uninstrument()
        setup.close()
        receiver.stop()
    sent = payload(receiver)
    for text in (question, answer, *documents, "Customers may request a refund", "Question:"):
        assert text and text not in sent, f"text left the host: {text[:40]!r}"
    generation = next(s for s in receiver.spans if s.name.startswith("chat "))
    scored = {k.removeprefix("mre.score.") for k in attrs(generation) if k.startswith("mre.score.")}
    assert scored >= SCORES
    retrieval = next(s for s in receiver.spans if s.name.startswith("retrieval "))
    assert "refunds-v2" in str(attrs(retrieval)[sc.GEN_AI_RETRIEVAL_DOCUMENTS])  # ids and metadata stay
    assert {attrs(r)[sc.GEN_AI_EVALUATION_NAME] for r in receiver.logs} >= SCORES


def test_mre_serve_strips_forwarded_spans_and_records(capture_on: None) -> None:
    from mre.exporters.serve import start_service
    from mre.processor.service import ServiceConfig

    receiver = Receiver()
    running = start_service(
        ServiceConfig(listen="127.0.0.1:0", grace_s=0.1),
        metrics="127.0.0.1:0",
        forward=f"127.0.0.1:{receiver.port}",
        strip_content=True,
    )
    provider = app_provider(running.port)
    try:
        answer = "Customers may request a refund within 45 days of delivery."
        send_rag_trace(provider, answer)
        provider.force_flush()
        wait_for(lambda: interactions(running) == 1)
        wait_for(lambda: len(receiver.spans) == 4 and len(receiver.logs) >= len(SCORES))
    finally:
        provider.shutdown()
        running.stop(drain_timeout_s=2)
        receiver.stop()
    sent = payload(receiver)
    for text in (QUESTION, CONTEXT, answer, "45 days"):
        assert text not in sent
    generation = next(s for s in receiver.spans if s.name == "chat m1")
    assert attrs(generation)["mre.score.faithfulness"] < FAITHFULNESS_THRESHOLD
    explanations = [str(attrs(r)[sc.GEN_AI_EVALUATION_EXPLANATION]) for r in receiver.logs]
    assert any("unsupported claims: number" in e for e in explanations)


def test_each_pii_kind_is_redacted_in_spans_and_evaluation_records(
    tracer_provider: TracerProvider,
    span_exporter: object,
    log_exporter: object,
    logger_provider: LoggerProvider,
    capture_on: None,
) -> None:
    import json

    from mre.instrumentation import generation, retrieval, set_redactor
    from mre.model import Document
    from mre.redaction import redactor

    pii = {
        "jane.doe@example.com": "[EMAIL]",
        "+44 20 7946 0958": "[PHONE]",
        "4111 1111 1111 1111": "[CARD]",
        "123-45-6789": "[NATIONAL_ID]",
        "sk-proj-abcdefghijklmnopqrstuvwxyz123456": "[SECRET]",
    }
    answer = "Contact " + ", ".join(pii) + " for the refund."
    setup = install_embedded(tracer_provider, logger_provider=logger_provider, grace_s=0.05)
    set_redactor(redactor())
    try:
        with tracer_provider.get_tracer("t").start_as_current_span("request"):
            with retrieval("kb", query="Who handles refunds?", tracer_provider=tracer_provider) as r:
                r.record_documents([Document("d", "Refunds are handled by jane.doe@example.com.")])
            with generation(
                "m", messages=[{"role": "user", "content": "Who handles refunds?"}], tracer_provider=tracer_provider
            ) as g:
                g.record_output(answer)
        setup.processor.force_flush()
    finally:
        set_redactor(None)
        setup.close()
    spans = json.dumps([dict(s.attributes or {}) for s in span_exporter.get_finished_spans()])  # type: ignore[attr-defined]
    records = [r.log_record for r in log_exporter.get_finished_logs()]  # type: ignore[attr-defined]
    record_text = json.dumps([dict(r.attributes or {}) for r in records])
    for raw, placeholder in pii.items():
        assert raw not in spans and raw not in record_text
        assert placeholder in spans
    safety = next(r for r in records if r.attributes[sc.GEN_AI_EVALUATION_NAME] == "safety")
    assert safety.attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] == 0.0  # redacted PII still counts as PII
    for kind in ("pii.email", "pii.phone", "pii.card", "pii.national_id", "secret"):
        assert kind in safety.attributes[sc.GEN_AI_EVALUATION_EXPLANATION]
