"""OpenAI chat completions: request kwargs and responses to GenAI span attributes. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from mre.instrumentation._content import input_messages_json, output_messages_json

from mre import semconv as sc

PROVIDER = "openai"

_REQUEST_PARAMS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "seed": sc.GEN_AI_REQUEST_SEED,
}


def request_attributes(kwargs: Mapping[str, Any], client: Any, capture: bool) -> dict[str, Any]:
    model = kwargs.get("model")
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER,
    }
    if isinstance(model, str):
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    for param, key in _REQUEST_PARAMS.items():
        value = kwargs.get(param)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attrs[key] = value
    attrs.update(server_attributes(client))
    messages = kwargs.get("messages")
    if capture and messages is not None:
        attrs[sc.GEN_AI_INPUT_MESSAGES] = input_messages_json(messages)
    return attrs


def server_attributes(client: Any) -> dict[str, Any]:
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return {}
    parsed = urlparse(str(base_url))
    out: dict[str, Any] = {}
    if parsed.hostname:
        out[sc.SERVER_ADDRESS] = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80 if parsed.scheme == "http" else None)
    if port is not None:
        out[sc.SERVER_PORT] = port
    return out


def response_attributes(response: Any, capture: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for attr, key in (("model", sc.GEN_AI_RESPONSE_MODEL), ("id", sc.GEN_AI_RESPONSE_ID)):
        value = getattr(response, attr, None)
        if isinstance(value, str):
            attrs[key] = value
    choices = getattr(response, "choices", None) or []
    reasons = [str(getattr(c, "finish_reason", None) or "") for c in choices]
    if reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    usage = getattr(response, "usage", None)
    if usage is not None:
        for attr, key in (
            ("prompt_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS),
            ("completion_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
        ):
            value = getattr(usage, attr, None)
            if isinstance(value, int):
                attrs[key] = value
    if capture and choices:
        outputs = []
        for choice in choices:
            message = getattr(choice, "message", None)
            content = getattr(message, "content", None)
            outputs.append((content if isinstance(content, str) else None, getattr(choice, "finish_reason", None)))
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = output_messages_json(outputs)
    return attrs
