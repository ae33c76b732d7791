"""A transport-neutral span: what the processor needs from an SDK ReadableSpan or an OTLP proto span.

Both modes (embedded SpanProcessor and the OTLP service) convert to :class:`SpanRecord` at the edge,
so assembly, dialect reading and scoring never see transport types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, ~2 us more per span for
# this one (built for every span received); nothing writes to a record after it is made.
@dataclass(slots=True)
class SpanRecord:
    trace_id: int
    span_id: int
    parent_span_id: int | None  # None for a root
    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    events: Sequence[SpanEvent] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    # True when the parent lives in another process: this span is the local root.
    parent_is_remote: bool = False
    # Encoded size when known (OTLP); otherwise estimated from the attributes.
    size_bytes: int | None = None
    # Transport object kept for forwarding (OTLP: the Origin and proto Span); opaque here.
    source: Any = None

    @property
    def is_local_root(self) -> bool:
        return self.parent_span_id is None or self.parent_is_remote

    def approx_bytes(self) -> int:
        """A cheap size estimate for memory bounds: string lengths plus a fixed overhead per item."""
        if self.size_bytes is not None:
            return self.size_bytes + 200
        size = 200 + len(self.name)
        for key, value in self.attributes.items():
            size += len(key) + (len(value) if isinstance(value, str) else 16)
        for event in self.events:
            size += 64 + sum(len(k) + (len(v) if isinstance(v, str) else 16) for k, v in event.attributes.items())
        return size


def from_readable_span(span: ReadableSpan, keep_source: bool = False) -> SpanRecord:
    """``keep_source`` holds on to the SDK span (only needed to export it again after scoring)."""
    ctx = span.context
    parent = span.parent
    return SpanRecord(
        trace_id=ctx.trace_id if ctx else 0,
        span_id=ctx.span_id if ctx else 0,
        parent_span_id=parent.span_id if parent is not None else None,
        parent_is_remote=bool(parent is not None and parent.is_remote),
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        attributes=dict(span.attributes or {}),
        events=tuple(SpanEvent(e.name, dict(e.attributes or {})) for e in span.events),
        resource=dict(span.resource.attributes) if span.resource else {},
        source=span if keep_source else None,
    )


def hex_trace_id(trace_id: int) -> str:
    return f"{trace_id:032x}"


def hex_span_id(span_id: int) -> str:
    return f"{span_id:016x}"
