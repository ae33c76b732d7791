"""Lenient readers for the JSON-string attributes every Python SDK writes for `any`-typed values."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mre.model import Message

logger = logging.getLogger(__name__)


class MalformedAttribute(ValueError):
    """An attribute whose value does not have the documented shape."""


def parse_json(value: Any, key: str) -> Any:
    """Decode a JSON string attribute; structured values pass through. Raises MalformedAttribute."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise MalformedAttribute(f"{key}: invalid JSON ({exc.msg} at {exc.pos})") from None
        except RecursionError:  # nested deeper than the interpreter's stack: not a message list
            raise MalformedAttribute(f"{key}: JSON nested too deeply") from None
    return value


def part_text(parts: Any) -> str | None:
    """Text of a semconv part list ([{type: text, content}]) or of a plain string."""
    if isinstance(parts, str):
        return parts
    # JSON gives lists and dicts: their type is checked before the ABCs (a call into abc each).
    if type(parts) is not list and not isinstance(parts, Sequence):
        return None
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif (type(part) is dict or isinstance(part, Mapping)) and part.get("type", "text") == "text":
            content = part.get("content", part.get("text"))
            if isinstance(content, str):
                texts.append(content)
    return "\n".join(texts) if texts else None


def messages(value: Any, key: str) -> list[Message] | None:
    """Semconv messages ``[{role, parts: [...]}]``; also accepts ``[{role, content}]``."""
    decoded = parse_json(value, key)
    if decoded is None:
        return None
    if type(decoded) is not list and (not isinstance(decoded, Sequence) or isinstance(decoded, str)):
        raise MalformedAttribute(f"{key}: expected a list of messages, got {type(decoded).__name__}")
    out = []
    for item in decoded:
        if type(item) is not dict and not isinstance(item, Mapping):
            raise MalformedAttribute(f"{key}: expected message objects, got {type(item).__name__}")
        role = item.get("role")
        text = part_text(item.get("parts", item.get("content")))
        out.append(Message(role=str(role) if role is not None else "user", content=text or ""))
    return out


def system_text(messages: Sequence[Message] | None) -> str | None:
    """The system prompt carried inside the history (role system or developer)."""
    texts = [m.content for m in messages or () if m.role in ("system", "developer") and m.content]
    return "\n".join(texts) if texts else None


_NOT_THE_MODEL = frozenset({"user", "human", "system", "developer", "tool", "function"})


def answer_text(outputs: Sequence[Message] | None) -> str | None:
    """The first text the model wrote; ``""`` when outputs were captured but hold no text, None if
    not captured. Output messages are the model's whatever role they name (OpenLLMetry writes
    ``"unknown"`` for LangChain streams, some SDKs nothing)."""
    if outputs is None:
        return None
    texts = [m.content for m in outputs if m.role not in _NOT_THE_MODEL and m.content]
    return texts[0] if texts else ""


def mentions_tool_calls(value: object) -> bool:
    """Whether a recorded output asks for tool calls (the semconv part type, OpenAI's key)."""
    return isinstance(value, str) and ('"tool_call"' in value or '"tool_calls"' in value)


_ROLE_PREFIX = re.compile(r"^(system|user|human|assistant|ai|developer)\s{0,2}:\s?(.*)$", re.I)
_FLAT_ROLES = {"human": "user", "ai": "assistant"}


def unflatten(messages: Sequence[Message] | None) -> Sequence[Message] | None:
    """A whole conversation flattened into one text ("system: ...\nuser: ...", as older OpenLIT and
    LangChain string prompts record it) back into its messages; anything else unchanged."""
    if not messages or len(messages) != 1:
        return messages
    lines = messages[0].content.splitlines()
    first = _ROLE_PREFIX.match(lines[0]) if lines else None
    if first is None:
        return messages
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        match = _ROLE_PREFIX.match(line)
        if match:
            role = match.group(1).lower()
            out.append((_FLAT_ROLES.get(role, role), [match.group(2)]))
        else:
            out[-1][1].append(line)
    if len(out) < 2:
        return messages
    return [Message(role, "\n".join(text).strip()) for role, text in out]
