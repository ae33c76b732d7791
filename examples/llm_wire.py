"""Wire formats of the OpenAI and Anthropic HTTP APIs, as the local model server speaks them:
JSON bodies and server-sent-event sequences for streaming. Pure functions."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

MODERATION_TERMS = ("kill", "hate", "attack", "bomb")
EMBEDDING_DIMENSIONS = 16


def tokens(text: str) -> int:
    return len(text.split())


def sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {body}\n\n".encode()


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


# --- OpenAI chat completions ---------------------------------------------------------------------
def chat_completion(response_id: str, model: str, answer: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens(answer),
            "total_tokens": prompt_tokens + tokens(answer),
        },
    }


def chat_stream(response_id: str, model: str, answer: str, prompt_tokens: int, include_usage: bool) -> Iterator[bytes]:
    base = {"id": response_id, "object": "chat.completion.chunk", "created": 0, "model": model}
    yield sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    for piece in _pieces(answer):
        yield sse({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    yield sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        yield sse(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": tokens(answer),
                    "total_tokens": prompt_tokens + tokens(answer),
                },
            }
        )
    yield sse("[DONE]")


def tool_call_completion(response_id: str, model: str, call: dict[str, Any], prompt_tokens: int) -> dict[str, Any]:
    body = chat_completion(response_id, model, "", prompt_tokens)
    body["choices"] = [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [call]},
            "finish_reason": "tool_calls",
        }
    ]
    return body


def tool_call_stream(response_id: str, model: str, call: dict[str, Any]) -> Iterator[bytes]:
    base = {"id": response_id, "object": "chat.completion.chunk", "created": 0, "model": model}
    arguments = call["function"]["arguments"]
    half = len(arguments) // 2
    first = {
        "index": 0,
        "id": call["id"],
        "type": "function",
        "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
    }
    yield sse(
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [first]}, "finish_reason": None}],
        }
    )
    rest = {"index": 0, "function": {"arguments": arguments[half:]}}
    yield sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [rest]}, "finish_reason": None}]})
    yield sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    yield sse("[DONE]")


# --- OpenAI Responses API ------------------------------------------------------------------------
def response_object(response_id: str, model: str, answer: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 0,
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": f"msg_{response_id}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": answer, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": prompt_tokens,
            "output_tokens": tokens(answer),
            "total_tokens": prompt_tokens + tokens(answer),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def response_stream(response_id: str, model: str, answer: str, prompt_tokens: int) -> Iterator[bytes]:
    """The event sequence of the Responses API, in full: the SDK's ``responses.stream()`` helper
    builds its snapshot from the item and content-part events."""
    final = response_object(response_id, model, answer, prompt_tokens)
    started = {**final, "status": "in_progress", "output": []}
    item_id = f"msg_{response_id}"
    item = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    n = 0

    def event(kind: str, **body: Any) -> bytes:
        nonlocal n
        n += 1
        return sse({"type": kind, "sequence_number": n, **body}, kind)

    yield event("response.created", response=started)
    yield event("response.output_item.added", output_index=0, item=item)
    yield event("response.content_part.added", part=part, **where)
    for piece in _pieces(answer):
        yield event("response.output_text.delta", delta=piece, logprobs=[], **where)
    yield event("response.output_text.done", text=answer, logprobs=[], **where)
    yield event("response.content_part.done", part={**part, "text": answer}, **where)
    yield event("response.output_item.done", output_index=0, item=final["output"][0])
    yield event("response.completed", response=final)


# --- OpenAI embeddings and moderations ------------------------------------------------------------
def embedding(text: str) -> list[float]:
    """A deterministic bag-of-characters vector: same text, same vector (tests, not semantics)."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for i, ch in enumerate(text.lower()):
        vector[(ord(ch) + i) % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def embeddings(model: str, inputs: list[str], embed: Callable[[str], list[float]] = embedding) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(inputs)],
        "model": model,
        "usage": {"prompt_tokens": sum(tokens(t) for t in inputs), "total_tokens": sum(tokens(t) for t in inputs)},
    }


def moderation(response_id: str, model: str, inputs: list[str]) -> dict[str, Any]:
    results = []
    for text in inputs:
        hits = [term for term in MODERATION_TERMS if term in text.lower()]
        categories = {"violence": bool(hits), "hate": "hate" in hits, "harassment": False}
        scores = {"violence": 0.91 if hits else 0.01, "hate": 0.88 if "hate" in hits else 0.01, "harassment": 0.02}
        results.append({"flagged": bool(hits), "categories": categories, "category_scores": scores})
    return {"id": response_id, "model": model, "results": results}


# --- Anthropic messages ----------------------------------------------------------------------------
def anthropic_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def message(response_id: str, model: str, answer: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": response_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": answer}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": tokens(answer)},
    }


def message_stream(response_id: str, model: str, answer: str, prompt_tokens: int) -> Iterator[bytes]:
    start = {**message(response_id, model, "", prompt_tokens), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": prompt_tokens, "output_tokens": 1}
    yield sse({"type": "message_start", "message": start}, "message_start")
    yield sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    for piece in _pieces(answer):
        yield sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            "content_block_delta",
        )
    yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": tokens(answer)},
        },
        "message_delta",
    )
    yield sse({"type": "message_stop"}, "message_stop")
