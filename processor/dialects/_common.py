"""Small typed readers shared by the dialect modules."""

from __future__ import annotations

import json
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
        except (ValueError, RecursionError):
            BAD_INPUT.record(MALFORMED_ATTRIBUTE, f"{key}: invalid JSON object")
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}
