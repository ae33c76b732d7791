"""One interaction per answer, however many layers traced it (the rule in docs/assembly.md): each
shape below is how a real instrumentation (or two at once) records one RAG answer."""

from __future__ import annotations

import json
from typing import Any

from mre import semconv as sc
from mre.processor.interactions import ReadOptions, build_interactions
from mre.processor.spans import SpanRecord

TRACE = 0xABC
QUESTION = "How many days of paid annual leave do full-time employees get?"
DOC = "Full-time employees receive 25 days of paid annual leave per calendar year."
OTHER = "Birth parents receive 20 weeks of fully paid parental leave."
ANSWER = "Full-time employees receive 25 days of paid annual leave."


def span(sid: int, parent: int | None, start: int, end: int, attrs: dict[str, Any], name: str = "s") -> SpanRecord:
    return SpanRecord(TRACE, sid, parent, name, start, end, attrs, resource={"service.name": "hr-bot"})


def chat(answer: str | None, prompt: str | None = None, **extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_REQUEST_MODEL: "m", **extra}
    if prompt is not None:
        attrs[sc.GEN_AI_INPUT_MESSAGES] = json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}])
    if answer is not None:
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
        )
    return attrs


def retrieval(docs: list[tuple[str, str | None, dict[str, Any]]], query: str | None = QUESTION, **extra: Any) -> dict:
    items = [{"id": i, "content": c, "metadata": m, **extra} for i, c, m in docs]
    attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: "retrieval", sc.GEN_AI_RETRIEVAL_DOCUMENTS: json.dumps(items)}
    if query:
        attrs[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = query
    return attrs


def prompt_with(*docs: str) -> str:
    return "Context:\n" + "\n".join(docs) + f"\n\nQuestion: {QUESTION}"


def openinference_llm(answer: str, prompt: str) -> dict[str, Any]:
    return {
        "openinference.span.kind": "LLM",
        "llm.model_name": "m",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": prompt,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
    }


def test_a_framework_span_over_the_client_span_is_one_generation() -> None:
    framework = span(2, 1, 10, 100, chat(ANSWER, prompt_with(DOC)), "ChatOpenAI")
    client = span(3, 2, 20, 90, chat(ANSWER, prompt_with(DOC), **{sc.GEN_AI_RESPONSE_ID: "resp-1"}), "chat m")
    (interaction,) = build_interactions([span(1, None, 0, 120, {}), framework, client])
    assert interaction.span_id == f"{3:016x}" and interaction.response_id == "resp-1"  # the client's call


def test_a_callback_tracer_that_does_not_parent_the_client_span_is_the_same_call() -> None:
    """OpenInference's LangChain tracer: the LLM span and the OpenAI span are siblings, one inside
    the other's time, with the same answer."""
    framework = span(2, 1, 10, 100, openinference_llm(ANSWER, prompt_with(DOC)), "ChatOpenAI")
    client = span(3, 1, 20, 90, openinference_llm(ANSWER, prompt_with(DOC)), "ChatCompletion")
    assert len(build_interactions([span(1, None, 0, 120, {}), framework, client])) == 1


def test_a_provider_sdks_own_span_without_content_merges_into_the_call_around_it() -> None:
    """anthropic>=2 traces its own calls (no content): inside the instrumentation's span, parented or not."""
    ours = span(2, 1, 10, 100, chat(ANSWER, prompt_with(DOC)))
    sdk = span(3, 1, 15, 95, {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_RESPONSE_ID: "msg-1"}, "anthropic.messages")
    (interaction,) = build_interactions([span(1, None, 0, 120, {}), ours, sdk])
    assert interaction.answer == ANSWER and interaction.response_id == "msg-1"


def test_concurrent_answers_of_a_batch_stay_apart_and_keep_their_own_documents() -> None:
    """chain.batch: two model calls overlap in time under one root; each prompt holds its own documents."""
    q2 = "How many weeks of parental leave do birth parents get?"
    spans = [
        span(1, None, 0, 300, {}),
        span(10, 1, 10, 50, retrieval([("annual", DOC, {})])),
        span(11, 1, 12, 55, retrieval([("parental", OTHER, {})], query=q2)),
        span(20, 1, 60, 200, chat(ANSWER, prompt_with(DOC))),
        span(21, 1, 62, 210, chat("Birth parents get 20 weeks.", f"Context:\n{OTHER}\n\nQuestion: {q2}")),
    ]
    first, second = build_interactions(spans)
    assert (first.question, [d.id for d in first.documents or ()]) == (QUESTION, ["annual"])
    assert (second.question, [d.id for d in second.documents or ()]) == (q2, ["parental"])


def test_a_framework_retriever_over_the_vector_store_query_is_one_retrieval() -> None:
    store = retrieval([("annual-v3", DOC, {"version": 3})], query=None, distance=0.2)
    framework = retrieval([("annual-v3", DOC, {"source": "handbook/annual-leave.md"})])
    spans = [
        span(1, None, 0, 200, {}),
        span(2, 1, 10, 60, framework, "retrieval VectorStoreRetriever"),
        span(3, 2, 20, 50, store, "retrieval handbook"),
        span(4, 1, 70, 150, chat(ANSWER, prompt_with(DOC))),
    ]
    (interaction,) = build_interactions(spans)
    (doc,) = interaction.documents or ()
    assert doc.distance == 0.2 and dict(doc.metadata) == {"version": 3, "source": "handbook/annual-leave.md"}
    assert len(interaction.retrievals) == 1 and interaction.question == QUESTION


def test_moderation_and_embedding_calls_are_never_answers() -> None:
    def moderation(text: str) -> dict[str, Any]:
        return {
            "openinference.span.kind": "LLM",
            "llm.invocation_parameters": json.dumps({"input": text}),
            "output.value": json.dumps({"results": [{"flagged": False, "categories": {"violence": False}}]}),
            "output.mime_type": "application/json",
        }

    spans = [
        span(1, None, 0, 300, {}),
        span(2, 1, 1, 5, moderation(QUESTION), "ModerationCreateResponse"),
        span(3, 1, 6, 9, {"openinference.span.kind": "EMBEDDING", "embedding.model_name": "e"}, "CreateEmbeddings"),
        span(4, 1, 10, 50, retrieval([("annual", DOC, {})])),
        span(5, 1, 60, 100, chat(ANSWER, prompt_with(DOC))),
        span(6, 1, 110, 120, moderation(ANSWER), "ModerationCreateResponse"),
    ]
    (interaction,) = build_interactions(spans)
    assert [(g.name, g.target, g.verdict) for g in interaction.guardrails] == [
        ("openai.moderation", "input", "allow"),
        ("openai.moderation", "output", "allow"),
    ]


def test_an_unmarked_guardrail_is_placed_by_where_it_sits() -> None:
    check = {sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL, sc.GEN_AI_GUARDRAIL_VERDICT_TYPE: "deny"}
    spans = [
        span(1, None, 0, 300, {}),
        span(2, 1, 1, 5, check, "run_guardrail pii"),
        span(3, 1, 60, 100, chat(ANSWER, prompt_with(DOC))),
        span(4, 1, 110, 120, check, "run_guardrail pii"),
    ]
    (interaction,) = build_interactions(spans)
    assert [g.target for g in interaction.guardrails] == ["input", "output"]


def test_a_reranker_reorders_the_retrieval_instead_of_adding_one() -> None:
    rerank = {
        "openinference.span.kind": "RERANKER",
        "reranker.query": QUESTION,
        "reranker.output_documents.0.document.id": "annual",
        "reranker.output_documents.0.document.content": DOC,
    }
    spans = [
        span(1, None, 0, 300, {}),
        span(2, 1, 10, 40, retrieval([("parental", OTHER, {}), ("annual", DOC, {})])),
        span(3, 1, 45, 55, rerank, "rerank"),
        span(4, 1, 60, 100, chat(ANSWER, prompt_with(DOC))),
    ]
    (interaction,) = build_interactions(spans)
    assert [d.id for d in interaction.documents or ()] == ["annual"] and len(interaction.retrievals) == 1


def test_a_tool_call_step_is_not_an_answer_and_its_result_is_the_context() -> None:
    tool_step = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]),
        sc.GEN_AI_OUTPUT_MESSAGES: json.dumps(
            [{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "search", "arguments": "{}"}]}]
        ),
    }
    final_prompt = [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "search"}]},
        {"role": "tool", "parts": [{"type": "text", "content": DOC}]},
    ]
    final = {**chat(ANSWER), sc.GEN_AI_INPUT_MESSAGES: json.dumps(final_prompt)}
    spans = [span(1, None, 0, 300, {}), span(2, 1, 10, 50, tool_step), span(3, 1, 60, 100, final)]
    (interaction,) = build_interactions(spans)
    assert interaction.question == QUESTION and interaction.contexts == [DOC]


def test_the_prompt_is_the_context_when_no_retrieval_captured_text() -> None:
    ids_only = retrieval([("annual-leave-v3", None, {})])
    spans = [
        span(1, None, 0, 300, {}),
        span(2, 1, 10, 40, ids_only),
        span(3, 1, 60, 100, chat(ANSWER, f"Context:\n[annual-leave-v3] {DOC}\n\nQuestion: {QUESTION}")),
    ]
    (interaction,) = build_interactions(spans)
    (doc,) = interaction.documents or ()
    assert (doc.id, doc.content) == ("annual-leave-v3", DOC)  # the recorded id, given its text from the prompt


def test_metadata_keys_are_mapped_for_every_dialect() -> None:
    llm = openinference_llm(ANSWER, prompt_with(DOC))
    retriever = {
        "openinference.span.kind": "RETRIEVER",
        "input.value": QUESTION,
        "retrieval.documents.0.document.id": "annual",
        "retrieval.documents.0.document.content": DOC,
        "retrieval.documents.0.document.metadata": json.dumps({"allowed_groups": "hr", "modified": "2021-01-01"}),
    }
    spans = [span(1, None, 0, 300, {}), span(2, 1, 10, 40, retriever), span(3, 1, 60, 100, llm)]
    options = ReadOptions(metadata_keys={"acl": "allowed_groups", "updated_at": "modified"})
    (interaction,) = build_interactions(spans, options)
    (doc,) = interaction.documents or ()
    assert (doc.metadata["acl"], doc.metadata["updated_at"]) == ("hr", "2021-01-01")


def test_who_asked_comes_from_the_user_attributes_instrumentations_set() -> None:
    for key in ("mre.principal", "user.id", "enduser.id", "traceloop.association.properties.user_id"):
        spans = [span(1, None, 0, 300, {key: "alice"}), span(2, 1, 60, 100, chat(ANSWER, prompt_with(DOC)))]
        (interaction,) = build_interactions(spans)
        assert interaction.principal == "alice", key


def test_the_route_is_mre_route_on_any_span_else_the_local_roots_http_route() -> None:
    def route_of(root: dict[str, str], child: dict[str, str]) -> str | None:
        spans = [span(1, None, 0, 300, root), span(2, 1, 60, 100, {**chat(ANSWER, prompt_with(DOC)), **child})]
        (interaction,) = build_interactions(spans)
        return interaction.route

    assert route_of({"http.route": "/ask"}, {}) == "/ask"
    assert route_of({"http.route": "/ask"}, {"mre.route": "qa"}) == "qa"  # ours wins, on any span
    assert route_of({}, {"http.route": "/internal"}) is None  # a child's http.route is not the answer's
    assert route_of({}, {}) is None


def test_an_unmarked_check_is_told_apart_by_the_text_it_checked_before_where_it_sits() -> None:
    def moderation(text: str | None) -> dict[str, Any]:  # OpenLIT's openai moderation: no target recorded
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: "moderation", "gen_ai.usage.cost": 0.0}
        if text is not None:
            attrs[sc.GEN_AI_INPUT_MESSAGES] = json.dumps([{"role": "user", "content": text}])
        return attrs

    spans = [
        span(1, None, 0, 300, {}),
        span(2, 1, 60, 100, chat(ANSWER, prompt_with(DOC))),
        span(3, 1, 120, 130, moderation(QUESTION)),  # after the answer, but it checked the question
        span(4, 1, 140, 150, moderation(ANSWER)),
        span(5, 1, 160, 170, moderation(None)),  # no text: where it sits says output
    ]
    (interaction,) = build_interactions(spans)
    assert [(g.span_id[-1], g.target) for g in interaction.guardrails] == [("4", "output"), ("5", "output")]


def test_one_retrieval_feeds_the_one_answer_exactly_when_it_ended_before_the_answer_began() -> None:
    """The usual trace (one retrieval, one answer) skips the prompt comparison: whether its documents
    are in the prompt or not, it must feed the answer by the time rule alone, as with two answers."""
    for in_prompt in (True, False):
        prompt = prompt_with(DOC) if in_prompt else QUESTION
        for r_start, r_end, fed in ((10, 40, True), (10, 50, True), (10, 51, False), (60, 90, False)):
            spans = [
                span(1, None, 0, 200, {}),
                span(10, 1, r_start, r_end, retrieval([("annual", DOC, {})])),
                span(20, 1, 50, 150, chat(ANSWER, prompt)),
            ]
            (interaction,) = build_interactions(spans)
            ids = [d.id for d in interaction.documents or ()]
            assert ("annual" in ids) == fed, (in_prompt, r_start, r_end)
            # The same retrieval next to a second, later answer goes through the prompt comparison.
            later = span(30, 1, 160, 190, chat("Later.", "Something else?"))
            first = build_interactions([*spans, later])[0]
            assert [d.id for d in first.documents or ()] == [d.id for d in interaction.documents or ()]
