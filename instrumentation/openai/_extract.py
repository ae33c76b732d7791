"""OpenAI requests and responses to GenAI span attributes: chat completions (with tool calls and
streaming chunks), the Responses API, embeddings, and moderations as a guardrail. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from mre import semconv as sc
from mre.instrumentation._content import input_messages_json, text_part
from mre.instrumentation._settings import guardrail_target
from mre.instrumentation._wrapping import Accumulator, Attributes

PROVIDER = "openai"

_REQUEST_PARAMS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "seed": sc.GEN_AI_REQUEST_SEED,
}


def server_attributes(client: Any) -> Attributes:
    base_url = getattr(client, "base_url", None)
    return {} if base_url is None else dict(_server_of(str(base_url)))


@lru_cache(maxsize=64)  # one client talks to one server: parse its URL once
def _server_of(base_url: str) -> tuple[tuple[str, Any], ...]:
    parsed = urlparse(base_url)
    out: Attributes = {}
    if parsed.hostname:
        out[sc.SERVER_ADDRESS] = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80 if parsed.scheme == "http" else None)
    if port is not None:
        out[sc.SERVER_PORT] = port
    return tuple(out.items())


def _common_request(instance: Any, kwargs: Mapping[str, Any], operation: str) -> Attributes:
    attrs: Attributes = {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_PROVIDER_NAME: PROVIDER}
    model = kwargs.get("model")
    if isinstance(model, str):
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    for param, key in _REQUEST_PARAMS.items():
        value = kwargs.get(param)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attrs[key] = value
    attrs.update(server_attributes(getattr(instance, "_client", None)))
    return attrs


def span_name(attrs: Attributes) -> str:
    return f"{attrs.get(sc.GEN_AI_OPERATION_NAME, '')} {attrs.get(sc.GEN_AI_REQUEST_MODEL, '')}".strip()


def _output_json(outputs: list[dict[str, Any]]) -> str:
    return json.dumps(outputs, ensure_ascii=False)


def _usage(usage: Any, input_name: str, output_name: str) -> Attributes:
    out: Attributes = {}
    if usage is None:
        return out
    for attr, key in ((input_name, sc.GEN_AI_USAGE_INPUT_TOKENS), (output_name, sc.GEN_AI_USAGE_OUTPUT_TOKENS)):
        value = getattr(usage, attr, None)
        if isinstance(value, int):
            out[key] = value
    return out


# --- chat completions -------------------------------------------------------------------------
def chat_request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    attrs = _common_request(instance, kwargs, sc.OP_CHAT)
    messages = kwargs.get("messages")
    if capture and isinstance(messages, Iterable) and not isinstance(messages, str | bytes):
        attrs[sc.GEN_AI_INPUT_MESSAGES] = input_messages_json(list(messages))
    return attrs


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in tool_calls or ():
        function = getattr(call, "function", None)
        parts.append(
            {
                "type": "tool_call",
                "id": getattr(call, "id", None),
                "name": getattr(function, "name", None),
                "arguments": getattr(function, "arguments", None),
            }
        )
    return parts


def chat_response(response: Any, capture: bool) -> Attributes:
    attrs: Attributes = {}
    for attr, key in (("model", sc.GEN_AI_RESPONSE_MODEL), ("id", sc.GEN_AI_RESPONSE_ID)):
        value = getattr(response, attr, None)
        if isinstance(value, str):
            attrs[key] = value
    choices = getattr(response, "choices", None) or []
    if choices:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [str(getattr(c, "finish_reason", None) or "") for c in choices]
    attrs.update(_usage(getattr(response, "usage", None), "prompt_tokens", "completion_tokens"))
    if capture and choices:
        outputs = []
        for choice in choices:
            message = getattr(choice, "message", None)
            content = getattr(message, "content", None)
            parts = [text_part(content)] if isinstance(content, str) else []
            parts.extend(_tool_call_parts(getattr(message, "tool_calls", None)))
            outputs.append(
                {"role": "assistant", "parts": parts, "finish_reason": getattr(choice, "finish_reason", None) or "stop"}
            )
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _output_json(outputs)
    return attrs


class ChatStream(Accumulator):
    """Merges ``ChatCompletionChunk`` deltas: text, tool calls, finish reasons, usage."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.id: str | None = None
        self.model: str | None = None
        self.text: dict[int, list[str]] = {}
        self.tools: dict[int, dict[int, dict[str, Any]]] = {}
        self.finish: dict[int, str] = {}
        self.usage: Any = None

    def item(self, chunk: Any) -> None:
        self.id = self.id or getattr(chunk, "id", None)
        self.model = self.model or getattr(chunk, "model", None)
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or ():
            index = getattr(choice, "index", 0) or 0
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None)
            if isinstance(content, str):
                self.text.setdefault(index, []).append(content)
            for call in getattr(delta, "tool_calls", None) or ():
                slot = self.tools.setdefault(index, {}).setdefault(
                    getattr(call, "index", 0) or 0, {"id": None, "name": None, "arguments": ""}
                )
                function = getattr(call, "function", None)
                slot["id"] = getattr(call, "id", None) or slot["id"]
                slot["name"] = getattr(function, "name", None) or slot["name"]
                slot["arguments"] += getattr(function, "arguments", None) or ""
            if getattr(choice, "finish_reason", None):
                self.finish[index] = choice.finish_reason

    def done(self) -> Attributes:
        attrs: Attributes = {sc.GEN_AI_RESPONSE_ID: self.id, sc.GEN_AI_RESPONSE_MODEL: self.model}
        indices = sorted(set(self.text) | set(self.tools) | set(self.finish))
        if indices:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [self.finish.get(i, "") for i in indices]
        attrs.update(_usage(self.usage, "prompt_tokens", "completion_tokens"))
        if self.capture:
            outputs = []
            for i in indices:
                parts: list[dict[str, Any]] = []
                if i in self.text:
                    parts.append(text_part("".join(self.text[i])))
                for _, call in sorted(self.tools.get(i, {}).items()):
                    parts.append({"type": "tool_call", **call})
                outputs.append({"role": "assistant", "parts": parts, "finish_reason": self.finish.get(i) or "stop"})
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _output_json(outputs)
        return attrs


# --- Responses API ------------------------------------------------------------------------------
def responses_request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    attrs = _common_request(instance, kwargs, sc.OP_CHAT)
    if capture:
        given = kwargs.get("input")
        if isinstance(given, str):
            attrs[sc.GEN_AI_INPUT_MESSAGES] = input_messages_json([{"role": "user", "content": given}])
        elif isinstance(given, Iterable):
            items = [i for i in given if isinstance(i, Mapping) and "role" in i]
            attrs[sc.GEN_AI_INPUT_MESSAGES] = input_messages_json(items)
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = json.dumps([text_part(instructions)], ensure_ascii=False)
    return attrs


def responses_response(response: Any, capture: bool) -> Attributes:
    attrs: Attributes = {
        sc.GEN_AI_RESPONSE_ID: getattr(response, "id", None),
        sc.GEN_AI_RESPONSE_MODEL: getattr(response, "model", None),
    }
    status = getattr(response, "status", None)
    finish = "stop" if status == "completed" else str(status or "")
    attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [finish]
    attrs.update(_usage(getattr(response, "usage", None), "input_tokens", "output_tokens"))
    if capture:
        text = getattr(response, "output_text", None)
        parts: list[dict[str, Any]] = [text_part(text)] if isinstance(text, str) else []
        for item in getattr(response, "output", None) or ():
            if getattr(item, "type", None) == "function_call":
                parts.append(
                    {
                        "type": "tool_call",
                        "id": getattr(item, "call_id", None),
                        "name": getattr(item, "name", None),
                        "arguments": getattr(item, "arguments", None),
                    }
                )
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _output_json(
            [{"role": "assistant", "parts": parts, "finish_reason": finish}]
        )
    return attrs


class ResponsesStream(Accumulator):
    """The Responses API streams events; ``response.completed`` carries the whole response."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.final: Any = None
        self.text: list[str] = []

    def item(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind == "response.output_text.delta":
            self.text.append(getattr(event, "delta", "") or "")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = getattr(event, "response", None)

    def done(self) -> Attributes:
        if self.final is not None:
            return responses_response(self.final, self.capture)
        attrs: Attributes = {}
        if self.capture and self.text:
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _output_json(
                [{"role": "assistant", "parts": [text_part("".join(self.text))], "finish_reason": "stop"}]
            )
        return attrs


# --- embeddings ---------------------------------------------------------------------------------
def embeddings_request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    attrs = _common_request(instance, kwargs, "embeddings")
    encoding = kwargs.get("encoding_format")
    if isinstance(encoding, str):
        attrs["gen_ai.request.encoding_formats"] = [encoding]
    return attrs


def embeddings_response(response: Any, capture: bool) -> Attributes:
    attrs: Attributes = {sc.GEN_AI_RESPONSE_MODEL: getattr(response, "model", None)}
    data = getattr(response, "data", None) or []
    if data and isinstance(getattr(data[0], "embedding", None), list):
        attrs["gen_ai.embeddings.dimension.count"] = len(data[0].embedding)
    prompt_tokens = getattr(getattr(response, "usage", None), "prompt_tokens", None)
    if isinstance(prompt_tokens, int):
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = prompt_tokens
    return attrs


# --- moderations as a guardrail ------------------------------------------------------------------
GUARDRAIL_NAME = "openai.moderation"


def moderation_request(instance: Any, kwargs: dict[str, Any], capture: bool) -> Attributes:
    attrs: Attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER,
        sc.GEN_AI_GUARDRAIL_NAME: GUARDRAIL_NAME,
        sc.GEN_AI_GUARDRAIL_TARGET_TYPE: guardrail_target(),
    }
    model = kwargs.get("model")
    if isinstance(model, str):
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    attrs.update(server_attributes(getattr(instance, "_client", None)))
    return attrs


def moderation_span_name(attrs: Attributes) -> str:
    return f"{sc.OP_GUARDRAIL} {GUARDRAIL_NAME}"


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else {}


def moderation_response(response: Any, capture: bool) -> Attributes:
    results = getattr(response, "results", None) or []
    flagged = any(bool(getattr(r, "flagged", False)) for r in results)
    categories: set[str] = set()
    top = 0.0
    for result in results:
        for name, hit in _as_dict(getattr(result, "categories", None)).items():
            if hit:
                categories.add(name)
        for value in _as_dict(getattr(result, "category_scores", None)).values():
            if isinstance(value, int | float):
                top = max(top, float(value))
    attrs: Attributes = {
        sc.GEN_AI_GUARDRAIL_VERDICT_TYPE: "deny" if flagged else "allow",
        sc.GEN_AI_RESPONSE_MODEL: getattr(response, "model", None),
        sc.GEN_AI_RESPONSE_ID: getattr(response, "id", None),
        sc.GEN_AI_GUARDRAIL_RISK_SCORE: top,
        "openai.moderation.flagged": flagged,  # the provider's native verdict, kept as is
    }
    if categories:
        attrs[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY] = sorted(categories)
    return attrs
