"""Small typed readers shared by the dialect modules."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mre.processor.dialects._json import MalformedAttribute
from mre.processor.health import BAD_INPUT, MALFORMED_ATTRIBUTE


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def float_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def lenient(reader: Any, value: Any, key: str) -> Any:
    """A malformed content attribute makes that field "not captured"; the rest of the span still counts."""
    try:
        return reader(value, key)
    except MalformedAttribute as exc:
        BAD_INPUT.record(MALFORMED_ATTRIBUTE, f"{exc} (treated as not captured)")
        return None


def json_mapping(value: Any, key: str) -> Mapping[str, Any]:
    """A JSON-object attribute (document metadata); anything else is an empty mapping, counted if bad."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value:
        try:
            decoded = json.loads(value)
        except ValueError:
            BAD_INPUT.record(MALFORMED_ATTRIBUTE, f"{key}: invalid JSON object")
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}


_QUESTION_MARKER = re.compile(r"(?:^|\n)\s*(?:question|query|q)\s*:\s*(.+?)\s*$", re.I | re.S)


def question_from_prompt(text: str) -> str:
    """The question inside a RAG prompt ("...Question: X"): apps often send context and question in
    one user message, and the retrieval span of some dialects does not record the query."""
    match = _QUESTION_MARKER.search(text)
    if match:
        return match.group(1).strip()
    return text.strip()


def context_from_prompt(text: str) -> str | None:
    """The context part of such a prompt (what precedes the question), or None when there is none."""
    match = _QUESTION_MARKER.search(text)
    if not match:
        return None
    context = re.sub(r"^\s*context\s*:\s*", "", text[: match.start()].strip(), flags=re.I)
    return context if len(context) >= 20 else None
