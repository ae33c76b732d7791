"""Reader rules that recordings alone do not pin down (shapes from shared/reference/semconv.md)."""

from __future__ import annotations

import json

from mre.processor.dialects import GenerationStage, GuardrailStage, RetrievalStage, detect_dialect, read_span
from mre.processor.interactions import build_interactions
from mre.processor.spans import SpanEvent, SpanRecord


def span(
    attrs: dict,
    *,
    sid: int = 2,
    parent: int | None = 1,
    events: tuple = (),
    resource: dict | None = None,
    start: int = 10,
    end: int = 20,
    name: str = "s",
) -> SpanRecord:
    return SpanRecord(7, sid, parent, name, start, end, attrs, events=events, resource=resource or {})


def test_otel_pre_1_37_names_and_content_events_are_read() -> None:
    legacy = span(
        {
            "gen_ai.system": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 3,
        },
        events=(
            SpanEvent("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Hi?"}])}),
            SpanEvent(
                "gen_ai.content.completion",
                {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Hello."}])},
            ),
        ),
    )
    (stage,) = read_span(legacy)
    assert isinstance(stage, GenerationStage)
    assert (stage.provider, stage.model, stage.answer, stage.input_tokens, stage.output_tokens) == (
        "openai",
        "gpt-4",
        "Hello.",
        12,
        3,
    )
    assert stage.input_messages is not None and stage.input_messages[0].content == "Hi?"


def test_openlit_guard_events_become_guardrail_checks_with_normalized_verdicts() -> None:
    llm = span(
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.cost": 0.001},
        events=(
            SpanEvent(
                "guard.evaluation",
                {
                    "guard.name": "pii",
                    "guard.phase": "postflight",
                    "guard.action": "redact",
                    "guard.score": 0.8,
                    "guard.classification": "email",
                },
            ),
        ),
    )
    assert detect_dialect(llm) == "openlit"
    stages = read_span(llm)
    (check,) = [s.check for s in stages if isinstance(s, GuardrailStage)]
    assert (check.name, check.target, check.verdict, check.native_verdict, check.categories) == (
        "pii",
        "output",
        "modify",
        "redact",
        ("email",),
    )


def test_openlit_vectordb_query_text_is_parsed_and_documents_are_not_captured() -> None:
    vectordb = span(
        {
            "gen_ai.operation.name": "vectordb",
            "db.system.name": "chroma",
            "db.operation.name": "GET",
            "db.query.text": "texts=['What is the refund window?']",
            "db.vector.query.top_k": 3,
        },
        resource={"telemetry.sdk.name": "openlit"},
    )
    (stage,) = read_span(vectordb)
    assert isinstance(stage, RetrievalStage)
    assert stage.retrieval.query == "What is the refund window?"
    assert stage.retrieval.documents is None  # not captured, never "empty"
    assert stage.retrieval.top_k == 3


def test_openinference_retriever_documents_keep_id_score_content_and_metadata() -> None:
    retriever = span(
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "refund window?",
            "retrieval.documents.0.document.id": "d1",
            "retrieval.documents.0.document.score": 0.9,
            "retrieval.documents.0.document.content": "Refunds within 30 days.",
            "retrieval.documents.0.document.metadata": '{"version": 2}',
            "retrieval.documents.2.document.content": "gap in indices is allowed",
        }
    )
    (stage,) = read_span(retriever)
    assert isinstance(stage, RetrievalStage)
    docs = stage.retrieval.documents
    assert docs is not None and [d.id for d in docs] == ["d1", "1"]
    assert docs[0].score == 0.9 and docs[0].metadata == {"version": 2}
    assert stage.retrieval.query == "refund window?"


def test_openllmetry_chroma_distances_stay_distances() -> None:
    query = span(
        {"db.system": "chroma", "db.operation": "query", "db.chroma.query.n_results": 1},
        events=(
            SpanEvent(
                "db.query.result",
                {"db.query.result.id": "d1", "db.query.result.distance": 0.1, "db.query.result.document": "text"},
            ),
        ),
    )
    (stage,) = read_span(query)
    assert isinstance(stage, RetrievalStage) and stage.retrieval.documents is not None
    (doc,) = stage.retrieval.documents
    assert (doc.distance, doc.score) == (0.1, None)


def test_invalid_json_in_a_message_attribute_is_not_captured_and_counted() -> None:
    from mre.processor.health import BAD_INPUT

    before = BAD_INPUT.snapshot().get("malformed_attribute", 0)
    (stage,) = read_span(
        span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[{", "gen_ai.output.messages": 42})
    )
    assert isinstance(stage, GenerationStage)
    assert stage.input_messages is None and stage.answer is None
    assert BAD_INPUT.snapshot()["malformed_attribute"] == before + 2


def test_the_question_and_context_come_from_the_prompt_when_no_retrieval_captured_text() -> None:
    llm = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps(
                [
                    {
                        "role": "user",
                        "parts": [
                            {
                                "type": "text",
                                "content": "Context:\n[a] Refunds within 30 days.\n\nQuestion: How long for refunds?",
                            }
                        ],
                    }
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "30 days."}]}]
            ),
        }
    )
    (interaction,) = build_interactions([span({}, sid=1, parent=None, start=0, end=30), llm])
    assert interaction.question == "How long for refunds?"
    assert interaction.contexts == ["Refunds within 30 days."]
    assert [d.id for d in interaction.documents or ()] == ["a"]  # the passage keeps the id it was given
