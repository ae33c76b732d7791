"""The question and the context read from a prompt, one row per template people use (the real
template text, filled as the framework fills it)."""

from __future__ import annotations

import time

import pytest

from mre.model import Message
from mre.processor.prompt_context import MAX_PROMPT_CHARS, parse_prompt

Q = "How many days of paid annual leave do full-time employees get?"
DOC_A = "Full-time employees receive 25 days of paid annual leave per calendar year."
DOC_B = "Up to 5 unused days may be carried over to the next year, except for fixed-term contracts."
DOC_C = "Birth parents receive 20 weeks of fully paid parental leave."

# LangChain hub "rlm/rag-prompt": one human message, the question before the context.
RLM = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to answer "
    "the question. If you don't know the answer, just say that you don't know. Use three sentences maximum and "
    f"keep the answer concise.\nQuestion: {Q} \nContext: {DOC_A}\n\n{DOC_B}\n\n{DOC_C} \nAnswer:"
)
# LangChain's create_retrieval_chain tutorial: the context at the end of the system message.
RETRIEVAL_CHAIN_SYSTEM = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to answer "
    "the question. If you don't know the answer, say that you don't know. Use three sentences maximum and keep "
    f"the answer concise.\n\n{DOC_A}\n\n{DOC_B}\n\n{DOC_C}"
)
# The classic RetrievalQA "stuff" prompt.
STUFF = (
    "Use the following pieces of context to answer the question at the end. If you don't know the answer, just "
    "say that you don't know, don't try to make up an answer.\n\n"
    f"{DOC_A}\n\n{DOC_B}\n\n{DOC_C}\n\nQuestion: {Q}\nHelpful Answer:"
)
# LlamaIndex's default text_qa_template (and its chat form's user message), nodes with their metadata.
LLAMA_QA = (
    "Context information is below.\n---------------------\n"
    f"source: handbook/annual-leave.md\nversion: 3\nupdated_at: 2024-01-15\n\n{DOC_A}\n\n"
    f"source: handbook/annual-leave.md\nversion: 2\nupdated_at: 2021-01-10\n\n{DOC_B}\n"
    "---------------------\nGiven the context information and not prior knowledge, answer the query.\n"
    f"Query: {Q}\nAnswer: "
)
LLAMA_SYSTEM = (
    "You are an expert Q&A system that is trusted around the world.\nAlways answer the query using the provided "
    "context information, and not prior knowledge.\nSome rules to follow:\n1. Never directly reference the given "
    "context in your answer.\n2. Avoid statements like 'Based on the context, ...' or 'The context information "
    "...' or anything along those lines."
)
IDS = f"Context:\n[annual-leave-v3] {DOC_A}\n[annual-leave-v2] {DOC_B}\n\nQuestion: {Q}"
HEADER_NO_MARKER = f"Handbook excerpts:\n[annual-leave-v3] {DOC_A}\n[parental-leave-v1] {DOC_C}\n\n{Q}"
ANTHROPIC_XML = (
    "Answer from the documents only.\n\n<documents>\n"
    f'<document index="1"><source>handbook/annual-leave.md</source><document_content>{DOC_A}'
    "</document_content></document>\n"
    f'<document index="2"><source>handbook/parental-leave.md</source><document_content>{DOC_C}'
    "</document_content></document>\n</documents>"
)
CONTEXT_TAG = f"<context>\n{DOC_A}\n\n{DOC_B}\n</context>\n\nAnswer the question: {Q}"
# Older OpenLIT and LangChain string prompts flatten the conversation into one text.
FLATTENED = f"system: Answer from the context.\nContext: {DOC_A}\nuser: {Q}"

TEMPLATES = {
    "rlm/rag-prompt (question first)": ([Message("user", RLM)], Q, [DOC_A, DOC_B, DOC_C]),
    "create_retrieval_chain (context in system)": (
        [Message("system", RETRIEVAL_CHAIN_SYSTEM), Message("user", Q)],
        Q,
        [DOC_A, DOC_B, DOC_C],
    ),
    "RetrievalQA stuff prompt": ([Message("user", STUFF)], Q, [DOC_A, DOC_B, DOC_C]),
    "LlamaIndex text_qa_template": ([Message("user", LLAMA_QA)], Q, [DOC_A, DOC_B]),
    "LlamaIndex chat text_qa (rules in system)": (
        [Message("system", LLAMA_SYSTEM), Message("user", LLAMA_QA)],
        Q,
        [DOC_A, DOC_B],
    ),
    "[id] passages then Question:": ([Message("user", IDS)], Q, [DOC_A, DOC_B]),
    "a header, passages, the bare question": ([Message("user", HEADER_NO_MARKER)], Q, [DOC_A, DOC_C]),
    "Anthropic XML documents in system": (
        [Message("system", ANTHROPIC_XML), Message("user", Q)],
        Q,
        [DOC_A, DOC_C],
    ),
    "<context> tags then the question": ([Message("user", CONTEXT_TAG)], Q, [DOC_A, DOC_B]),
    "multi-turn: the last user turn asks": (
        [
            Message("system", f"Use the context below.\n\nContext: {DOC_A}"),
            Message("user", "How long is parental leave?"),
            Message("assistant", "20 weeks for birth parents."),
            Message("user", Q),
        ],
        Q,
        [DOC_A],
    ),
    "retrieval as a tool call: the result is the context": (
        [
            Message("user", Q),
            Message("assistant", ""),
            Message("tool", f"{DOC_A}\n\n{DOC_B}"),
        ],
        Q,
        [DOC_A, DOC_B],
    ),
    "no context at all": ([Message("system", "You are a helpful assistant."), Message("user", Q)], Q, []),
}


@pytest.mark.parametrize(("messages", "question", "passages"), TEMPLATES.values(), ids=list(TEMPLATES))
def test_templates(messages: list[Message], question: str, passages: list[str]) -> None:
    parts = parse_prompt(messages)
    assert parts.question == question
    assert [d.content for d in parts.documents] == passages


def test_a_flattened_conversation_is_read_as_its_messages() -> None:
    from mre.processor.dialects._json import unflatten

    messages = unflatten([Message("user", FLATTENED)])
    assert [m.role for m in messages or ()] == ["system", "user"]
    parts = parse_prompt(messages)
    assert (parts.question, [d.content for d in parts.documents]) == (Q, [DOC_A])


def test_passages_keep_their_ids_and_the_metadata_written_above_them() -> None:
    (v3, v2) = parse_prompt([Message("user", LLAMA_QA)]).documents
    assert (v3.metadata["version"], v3.metadata["updated_at"]) == (3, "2024-01-15")
    assert v2.metadata["version"] == 2
    assert v3.id == "handbook/annual-leave.md" and v2.id == "handbook/annual-leave.md#2"  # ids stay unique
    (a, b) = parse_prompt([Message("user", IDS)]).documents
    assert (a.id, b.id) == ("annual-leave-v3", "annual-leave-v2")
    (x, y) = parse_prompt([Message("system", ANTHROPIC_XML), Message("user", Q)]).documents
    assert (x.id, y.id, y.metadata["source"]) == (
        "handbook/annual-leave.md",
        "handbook/parental-leave.md",
        "handbook/parental-leave.md",
    )


def test_an_faq_passage_is_context_not_the_question() -> None:
    faq = f"Context:\nQ: Can leave be carried over?\nA: {DOC_B}\n\nQuestion: {Q}"
    parts = parse_prompt([Message("user", faq)])
    assert parts.question == Q
    assert any(DOC_B in (d.content or "") for d in parts.documents)


def test_rules_in_a_system_message_are_not_context() -> None:
    parts = parse_prompt([Message("system", LLAMA_SYSTEM), Message("user", Q)])
    assert parts.documents == ()


@pytest.mark.parametrize(
    "hostile",
    [
        "question: x" + " " * 60_000 + "y",
        "Context:" + "a." * 60_000,
        "[" * 60_000,
        "<document " * 20_000,
        ("key: value\n" * 30_000),
        "-" * 200_000,
        "Question: " + "? " * 60_000,
    ],
    ids=["spaces", "dots", "brackets", "tags", "metadata lines", "one rule", "question marks"],
)
def test_hostile_prompts_take_time_linear_in_their_length(hostile: str) -> None:
    started = time.perf_counter()
    parse_prompt([Message("system", hostile), Message("user", hostile)])
    assert time.perf_counter() - started < 2.0


def test_prompts_are_read_up_to_the_documented_size() -> None:
    huge = f"Context: {DOC_A}\n\n" + "x " * MAX_PROMPT_CHARS + f"\n\nQuestion: {Q}"
    parts = parse_prompt([Message("user", huge)])
    assert parts.question != Q  # the question past the cut is not read
    assert parts.documents and parts.documents[0].content == DOC_A
