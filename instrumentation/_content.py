"""Serialization of content to the semconv JSON shapes (messages with parts, retrieval documents)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mre.instrumentation._redaction import redact
from mre.instrumentation._settings import metadata_keys
from mre.metadata import normalize_metadata as mre_normalize_metadata
from mre.model import Document


def text_part(text: str) -> dict[str, str]:
    """Every piece of recorded text passes here, so redaction applies to all of it."""
    return {"type": "text", "content": redact(text)}


def message_parts(content: Any) -> list[dict[str, Any]]:
    """Parts of a chat message content: a string, or a list of OpenAI-style content parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    if isinstance(content, Iterable):
        for part in content:
            if isinstance(part, str):
                parts.append(text_part(part))
            elif isinstance(part, Mapping):
                kind = part.get("type")
                if kind in ("text", "input_text", "output_text") and isinstance(part.get("text"), str):
                    parts.append(text_part(part["text"]))
                elif kind == "image_url":
                    image = part.get("image_url")
                    url = image.get("url") if isinstance(image, Mapping) else image
                    parts.append({"type": "uri", "modality": "image", "uri": str(url)})
                elif kind is not None:
                    parts.append({"type": str(kind)})
    return parts


def input_messages_json(messages: Iterable[Any]) -> str:
    out = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        entry: dict[str, Any] = {
            "role": str(message.get("role", "user")),
            "parts": message_parts(message.get("content")),
        }
        for call in message.get("tool_calls") or ():
            function = call.get("function", {}) if isinstance(call, Mapping) else {}
            entry["parts"].append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
        if message.get("role") == "tool":
            entry["parts"] = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": redact(message["content"]) if isinstance(message.get("content"), str) else None,
                }
            ]
        out.append(entry)
    return json.dumps(out, ensure_ascii=False, default=str)


def output_messages_json(outputs: Sequence[tuple[str | None, str | None]]) -> str:
    """``outputs``: (text, finish_reason) per choice."""
    return json.dumps(
        [
            {
                "role": "assistant",
                "parts": [text_part(text)] if text is not None else [],
                "finish_reason": reason or "stop",
            }
            for text, reason in outputs
        ],
        ensure_ascii=False,
    )


def normalize_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Copy the configured keys (``MRE_METADATA_KEYS``) to the names scoring reads; keep the originals."""
    return dict(mre_normalize_metadata(metadata, metadata_keys()))


def as_document(item: Any, rank: int) -> Document:
    """Accept our Document, a mapping (id/content/text/page_content/score/distance/metadata) or a string."""
    if isinstance(item, Document):
        return (
            item
            if item.rank is not None
            else Document(item.id, item.content, item.score, item.distance, rank, item.metadata)
        )
    if isinstance(item, str):
        return Document(id=str(rank), content=item, rank=rank)
    if isinstance(item, Mapping):
        content = item.get("content", item.get("text", item.get("page_content")))
        metadata = item.get("metadata") or {}
        doc_id = item.get("id", metadata.get("id") if isinstance(metadata, Mapping) else None)
        return Document.from_json(
            {
                "id": str(doc_id) if doc_id is not None else str(rank),
                "content": content,
                "score": item.get("score"),
                "distance": item.get("distance"),
                "metadata": metadata,
            },
            rank=rank,
        )
    raise TypeError(f"cannot read a document from {type(item).__name__}")


def documents_json(documents: Sequence[Document], with_content: bool) -> str:
    items = []
    for doc in documents:
        item = doc.to_json()
        if doc.metadata:
            item["metadata"] = normalize_metadata(doc.metadata)
        if not with_content:
            item.pop("content", None)
        elif isinstance(item.get("content"), str):
            item["content"] = redact(item["content"])
        items.append(item)
    return json.dumps(items, ensure_ascii=False, default=str)
