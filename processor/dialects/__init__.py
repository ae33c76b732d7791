"""Dialect readers: turn one span of any GenAI dialect into normalized stages.

Detection is per span, in the order of ``shared/reference/semconv.md`` §7: OpenInference, OpenLLMetry,
OpenLIT, then the OpenTelemetry GenAI conventions (current and pre-1.37). Each stage keeps its dialect
(identical keys carry different shapes across dialects). Readers are pure functions.

A dialect is added with :func:`register_dialect` alone: its detection is tried before the built-in
ones, its reader feeds assembly and scoring, and the non-text attribute keys it declares are what
strip mode keeps of it (strip mode is an allowlist: every other key of the dialect, its text
included, never leaves a stripping host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat

from mre.processor.dialects import openinference, openlit, openllmetry, otel
from mre.processor.dialects._stage import GenerationStage, GuardrailStage, RetrievalStage, Stage
from mre.processor.spans import SpanRecord

_READ: dict[str, Callable[[SpanRecord], list[Stage]]] = {
    openinference.DIALECT: openinference.read_openinference,
    openllmetry.DIALECT: openllmetry.read_openllmetry,
    openlit.DIALECT: openlit.read_openlit,
    otel.DIALECT: otel.read_otel,
}


@dataclass(frozen=True)
class DialectSpec:
    name: str
    detect: Callable[[SpanRecord], bool]
    read: Callable[[SpanRecord], list[Stage]]
    # Attribute keys that carry no text (ids, models, counts): strip mode keeps them.
    safe_keys: frozenset[str] = field(default_factory=frozenset)


_EXTRA: dict[str, DialectSpec] = {}
_SAFE_KEYS: frozenset[str] = frozenset()  # kept with _EXTRA: strip mode reads it for every attribute


def register_dialect(spec: DialectSpec) -> DialectSpec:
    global _SAFE_KEYS
    if spec.name in _READ or spec.name in _EXTRA:
        raise ValueError(f"a dialect named {spec.name!r} is already registered")
    _EXTRA[spec.name] = spec
    _SAFE_KEYS = _SAFE_KEYS | spec.safe_keys
    return spec


def unregister_dialect(name: str) -> None:
    global _SAFE_KEYS
    _EXTRA.pop(name, None)
    _SAFE_KEYS = frozenset().union(*(spec.safe_keys for spec in _EXTRA.values()))


def safe_keys() -> frozenset[str]:
    """The non-text keys registered dialects declare (strip mode's allowlist adds them)."""
    return _SAFE_KEYS


def detect_dialect(span: SpanRecord) -> str:
    """Cheap checks first (this runs for every span of every trace)."""
    for spec in _EXTRA.values():
        if spec.detect(span):
            return spec.name
    attrs = span.attributes
    if openinference.KIND in attrs:
        return openinference.DIALECT
    # Key-name marks checked in C (a set test and startswith mapped over the keys): a Python loop over
    # every key of every span was a tenth of assembling a trace.
    keys = attrs.keys()
    llmetry = not openllmetry.MARK_KEYS.isdisjoint(keys) or any(
        map(str.startswith, keys, repeat(openllmetry.MARK_PREFIXES))
    )
    lit = not llmetry and "gen_ai.usage.cost" in attrs
    if llmetry or openllmetry.detect_without_keys(span):
        return openllmetry.DIALECT
    if lit or openlit.detect(span):
        return openlit.DIALECT
    return otel.DIALECT


def read_span(span: SpanRecord) -> list[Stage]:
    """The stages this span records (usually one; none for spans that are not a GenAI stage)."""
    if not span.attributes and not span.events:
        return []
    name = detect_dialect(span)
    extra = _EXTRA.get(name)
    return extra.read(span) if extra is not None else _READ[name](span)


__all__ = [
    "DialectSpec",
    "GenerationStage",
    "GuardrailStage",
    "RetrievalStage",
    "Stage",
    "detect_dialect",
    "read_span",
    "register_dialect",
    "safe_keys",
    "unregister_dialect",
]
