"""Anthropic Messages requests and responses (and stream events) to GenAI span attributes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mre import semconv as sc
from mre.instrumentation._content import input_messages_json, text_part
from mre.instrumentation._wrapping import Accumulator, Attributes
from mre.instrumentation.openai._extract import server_attributes

PROVIDER = "anthropic"
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
_PARAMS = {
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": "gen_ai.request.top_k",
}


def span_name(attrs: Attributes) -> str:
    return f"{sc.OP_CHAT} {attrs.get(sc.GEN_AI_REQUEST_MODEL, '')}".strip()


def _system_text(system: Any) -> str | None:
    if isinstance(system, str):
        return system
    if isinstance(system, Iterable):
        texts = [b.get("text") for b in system if isinstance(b, Mapping) and b.get("type") == "text"]
        return "\n".join(t for t in texts if isinstance(t, str)) or None
    return None


def _message_dicts(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Anthropic content blocks to the OpenAI-like shape our serializer reads."""
    out = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, Iterable) and not isinstance(content, str):
            parts: list[Any] = []
            for block in content:
                if not isinstance(block, Mapping):
                    continue
                if block.get("type") == "text":
                    parts.append({"type": "text", "text": block.get("text", "")})
                elif block.get("type") == "tool_result":
                    result = block.get("content")
                    parts.append({"type": "text", "text": result if isinstance(result, str) else json.dumps(result)})
            content = parts
        out.append({"role": message.get("role", "user"), "content": content})
    return out


def request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    attrs: Attributes = {sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT, sc.GEN_AI_PROVIDER_NAME: PROVIDER}
    if isinstance(kwargs.get("model"), str):
        attrs[sc.GEN_AI_REQUEST_MODEL] = kwargs["model"]
    for param, key in _PARAMS.items():
        value = kwargs.get(param)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attrs[key] = value
    attrs.update(server_attributes(getattr(instance, "_client", None)))
    if capture:
        messages = kwargs.get("messages")
        if isinstance(messages, Iterable):
            attrs[sc.GEN_AI_INPUT_MESSAGES] = input_messages_json(_message_dicts(messages))
        system = _system_text(kwargs.get("system"))
        if system is not None:
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = json.dumps([text_part(system)], ensure_ascii=False)
    return attrs


def _usage(usage: Any) -> Attributes:
    out: Attributes = {}
    if usage is None:
        return out
    base = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None) or 0
    created = getattr(usage, "cache_creation_input_tokens", None) or 0
    if isinstance(base, int):
        # semconv counts cached tokens inside input_tokens; Anthropic reports them apart.
        out[sc.GEN_AI_USAGE_INPUT_TOKENS] = base + read + created
    if read:
        out["gen_ai.usage.cache_read.input_tokens"] = read
    if created:
        out["gen_ai.usage.cache_creation.input_tokens"] = created
    if isinstance(getattr(usage, "output_tokens", None), int):
        out[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    return out


def _outputs(parts: list[dict[str, Any]], stop_reason: str | None) -> str:
    finish = FINISH.get(stop_reason or "", stop_reason or "stop")
    return json.dumps([{"role": "assistant", "parts": parts, "finish_reason": finish}], ensure_ascii=False)


def response(message: Any, capture: bool) -> Attributes:
    stop = getattr(message, "stop_reason", None)
    attrs: Attributes = {
        sc.GEN_AI_RESPONSE_ID: getattr(message, "id", None),
        sc.GEN_AI_RESPONSE_MODEL: getattr(message, "model", None),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: [FINISH.get(stop or "", stop or "")],
        **_usage(getattr(message, "usage", None)),
    }
    if capture:
        parts: list[dict[str, Any]] = []
        for block in getattr(message, "content", None) or ():
            kind = getattr(block, "type", None)
            if kind == "text":
                parts.append(text_part(getattr(block, "text", "")))
            elif kind == "tool_use":
                parts.append(
                    {
                        "type": "tool_call",
                        "id": getattr(block, "id", None),
                        "name": getattr(block, "name", None),
                        "arguments": json.dumps(getattr(block, "input", None)),
                    }
                )
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _outputs(parts, stop)
    return attrs


class MessageStream(Accumulator):
    """Merges the Messages stream events (message_start ... message_stop)."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.id: str | None = None
        self.model: str | None = None
        self.stop: str | None = None
        self.input_usage: Any = None
        self.output_tokens: int | None = None
        self.blocks: dict[int, dict[str, Any]] = {}

    def item(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = getattr(event, "message", None)
            self.id, self.model = getattr(message, "id", None), getattr(message, "model", None)
            self.input_usage = getattr(message, "usage", None)
        elif kind == "content_block_start":
            block = getattr(event, "content_block", None)
            self.blocks[getattr(event, "index", 0)] = {
                "type": getattr(block, "type", "text"),
                "text": getattr(block, "text", "") or "",
                "id": getattr(block, "id", None),
                "name": getattr(block, "name", None),
                "json": "",
            }
        elif kind == "content_block_delta":
            delta = getattr(event, "delta", None)
            block = self.blocks.setdefault(getattr(event, "index", 0), {"type": "text", "text": "", "json": ""})
            block["text"] += getattr(delta, "text", "") or ""
            block["json"] += getattr(delta, "partial_json", "") or ""
        elif kind == "message_delta":
            self.stop = getattr(getattr(event, "delta", None), "stop_reason", None) or self.stop
            self.output_tokens = getattr(getattr(event, "usage", None), "output_tokens", None)

    def done(self) -> Attributes:
        attrs: Attributes = {
            sc.GEN_AI_RESPONSE_ID: self.id,
            sc.GEN_AI_RESPONSE_MODEL: self.model,
            sc.GEN_AI_RESPONSE_FINISH_REASONS: [FINISH.get(self.stop or "", self.stop or "")],
            **_usage(self.input_usage),
        }
        if isinstance(self.output_tokens, int):
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.capture:
            parts = []
            for _, block in sorted(self.blocks.items()):
                if block["type"] == "tool_use":
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": block.get("id"),
                            "name": block.get("name"),
                            "arguments": block["json"],
                        }
                    )
                else:
                    parts.append(text_part(block["text"]))
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _outputs(parts, self.stop)
        return attrs


def stream_snapshot(stream: Any) -> Any:
    """The message a ``messages.stream()`` helper has accumulated (the whole one once consumed)."""
    return getattr(stream, "current_message_snapshot", None)
