"""Un-flattening of indexed attributes (``prefix.N.suffix``), as OpenInference and OpenLLMetry write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.0.role=a, prefix.0.content=b, prefix.2.role=c`` -> ``[{role: a, content: b}, {role: c}]``
    (sorted by index; gaps are allowed)."""
    head = prefix + "."
    items: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(head):
            continue
        index, _, rest = key[len(head) :].partition(".")
        if not index.isdigit() or not rest:
            continue
        items.setdefault(int(index), {})[rest] = value
    return [items[i] for i in sorted(items)]
