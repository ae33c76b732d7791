"""The manual stage API emits the GenAI spans DESIGN.md specifies and never breaks the caller."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mre import semconv as sc
from mre.instrumentation import generation, guardrail, guardrail_check, retrieval, retriever
from mre.model import Document


def test_retrieval_span_carries_query_and_documents_with_reliability_metadata(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    with retrieval(
        "policies", query="refund window?", top_k=2, provider="chroma", tracer_provider=tracer_provider
    ) as step:
        step.record_documents(
            [
                Document(
                    "refunds-v2",
                    "Refunds within 30 days.",
                    0.91,
                    metadata={"updated_at": "2025-02-10", "version": 2, "acl": ["all"]},
                ),
                {
                    "id": "refunds-v1",
                    "text": "Refunds within 14 days.",
                    "distance": 0.4,
                    "metadata": {"superseded_by": "refunds-v2"},
                },
            ]
        )
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "retrieval policies"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    docs = json.loads(attrs.pop(sc.GEN_AI_RETRIEVAL_DOCUMENTS))
    assert attrs == {
        sc.GEN_AI_OPERATION_NAME: "retrieval",
        sc.GEN_AI_DATA_SOURCE_ID: "policies",
        sc.GEN_AI_PROVIDER_NAME: "chroma",
        sc.GEN_AI_REQUEST_TOP_K: 2,
        sc.GEN_AI_RETRIEVAL_QUERY_TEXT: "refund window?",
    }
    assert docs == [
        {
            "id": "refunds-v2",
            "score": 0.91,
            "rank": 0,
            "content": "Refunds within 30 days.",
            "metadata": {"updated_at": "2025-02-10", "version": 2, "acl": ["all"]},
        },
        {
            "id": "refunds-v1",
            "score": None,
            "distance": 0.4,
            "rank": 1,
            "content": "Refunds within 14 days.",
            "metadata": {"superseded_by": "refunds-v2"},
        },
    ]


def test_content_capture_off_keeps_ids_and_metadata_but_no_text(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    with retrieval("policies", query="secret question", tracer_provider=tracer_provider) as step:
        step.record_documents([Document("d1", "secret text", 0.5, metadata={"version": 1})])
    with generation("m", messages=[{"role": "user", "content": "secret prompt"}], tracer_provider=tracer_provider) as g:
        g.record_output("secret answer")
    exported = json.dumps([dict(s.attributes or {}) for s in span_exporter.get_finished_spans()])
    assert "secret" not in exported
    assert '\\"id\\": \\"d1\\"' in exported and "version" in exported


def test_generation_span_records_messages_output_and_usage(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    with generation(
        "local-llm",
        provider="vllm",
        system="Be brief.",
        messages=[{"role": "user", "content": "Hi?"}],
        tracer_provider=tracer_provider,
    ) as step:
        step.record_output("Hello.", response_model="local-llm-2", response_id="r1", input_tokens=3, output_tokens=1)
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat local-llm"
    attrs = dict(span.attributes or {})
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi?"}]}
    ]
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello."}], "finish_reason": "stop"}
    ]
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "local-llm-2"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3 and attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_guardrail_span_records_verdict_and_categories(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    with guardrail("pii", target="output", tracer_provider=tracer_provider) as step:
        step.record_verdict("deny", categories=["pii.email"], score=0.97)
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "run_guardrail pii"
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "run_guardrail"
    assert attrs[sc.GEN_AI_GUARDRAIL_TARGET_TYPE] == "output"
    assert attrs[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "deny"
    assert tuple(attrs[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY]) == ("pii.email",)
    assert attrs[sc.GEN_AI_GUARDRAIL_RISK_SCORE] == 0.97


def test_errors_of_the_wrapped_block_propagate_unchanged_and_mark_the_span(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    class StoreDown(RuntimeError):
        pass

    with pytest.raises(StoreDown, match="index offline"), retrieval("kb", tracer_provider=tracer_provider):
        raise StoreDown("index offline")
    (span,) = span_exporter.get_finished_spans()
    assert (
        span.attributes[sc.ERROR_TYPE]
        == "test_errors_of_the_wrapped_block_propagate_unchanged_and_mark_the_span.<locals>.StoreDown"
    )
    assert span.status.status_code is StatusCode.ERROR


def test_bad_input_to_our_api_never_raises_into_the_app(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    with retrieval("kb", tracer_provider=tracer_provider) as step:
        step.record_documents([object()])  # not a document: our problem, not the app's
    with guardrail("g", tracer_provider=tracer_provider) as g:
        g.record_verdict("maybe")  # unknown verdict: warned, recorded as given
    assert len(span_exporter.get_finished_spans()) == 2


def test_decorators_trace_retrievers_and_checks_and_return_what_the_function_returned(
    span_exporter: InMemorySpanExporter, tracer_provider: TracerProvider, capture_on: None
) -> None:
    @retriever("faq", top_k=1, tracer_provider=tracer_provider)
    def search(query: str) -> list[dict[str, str]]:
        return [{"id": "faq-1", "content": f"about {query}"}]

    @guardrail_check("length", target="output", tracer_provider=tracer_provider)
    def short_enough(text: str) -> bool:
        return len(text) < 5

    assert search("refunds") == [{"id": "faq-1", "content": "about refunds"}]
    assert short_enough("a long answer") is False
    retrieval_span, guard_span = span_exporter.get_finished_spans()
    assert retrieval_span.attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] == "refunds"
    assert guard_span.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "deny"


def test_guardrail_rejects_an_unknown_target_at_definition() -> None:
    with pytest.raises(ValueError, match="input' or 'output"):
        guardrail("g", target="middle")


def test_the_redaction_hook_masks_pii_before_anything_is_recorded(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    from mre.instrumentation import set_redactor
    from mre.redaction import redactor

    set_redactor(redactor([("[ORDER]", r"ORD-\d{6}")]))
    try:
        with retrieval("kb", query="Where is ORD-123456 for jane@example.com?", tracer_provider=tracer_provider) as r:
            r.record_documents([Document("d", "Card 4111 1111 1111 1111, key sk-proj-abcdefghijklmnopqrstuvwxyz123")])
        with generation(
            "m", messages=[{"role": "user", "content": "Call me on +44 20 7946 0958"}], tracer_provider=tracer_provider
        ) as g:
            g.record_output("SSN 123-45-6789 noted.")
    finally:
        set_redactor(None)
    exported = json.dumps([dict(s.attributes or {}) for s in span_exporter.get_finished_spans()])
    for secret in ("ORD-123456", "jane@example.com", "4111 1111", "sk-proj-", "7946 0958", "123-45-6789"):
        assert secret not in exported
    for placeholder in ("[ORDER]", "[EMAIL]", "[CARD]", "[SECRET]", "[PHONE]", "[NATIONAL_ID]"):
        assert placeholder in exported


def test_a_failing_redaction_hook_drops_the_text_instead_of_leaking_it(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    from mre.instrumentation import set_redactor

    def broken(text: str) -> str:
        raise RuntimeError("bad hook")

    set_redactor(broken)
    try:
        with generation("m", messages=[{"role": "user", "content": "secret"}], tracer_provider=tracer_provider) as g:
            g.record_output("secret answer")
    finally:
        set_redactor(None)
    (span,) = span_exporter.get_finished_spans()
    assert "secret" not in json.dumps(dict(span.attributes or {}))
