"""OTLP trace requests to :class:`SpanRecord`, lazily.

Ingest must run near the speed of protobuf decoding, so the gRPC thread only reads ids and groups
spans by trace; a span becomes a record (its attributes converted, its events and resource on first
access) in the scoring worker, when its trace is released. The original proto span and its
resource/scope stay attached for forwarding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mre.processor.assembly import Arena
from mre.processor.health import BAD_INPUT, INVALID_SPAN, OVERSIZED_ATTRIBUTE
from mre.processor.spans import SpanEvent, SpanRecord

# Larger string values are not read (a prompt of a megabyte is a bug or an attack, not a question).
MAX_ATTRIBUTE_BYTES = 1024 * 1024
_MAX_DEPTH = 8


def any_value(value: AnyValue, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        s = value.string_value
        if len(s) > MAX_ATTRIBUTE_BYTES:
            BAD_INPUT.record(OVERSIZED_ATTRIBUTE, f"string of {len(s)} characters ignored")
            return None
        return s
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if depth >= _MAX_DEPTH:
        return None
    if kind == "array_value":
        return tuple(any_value(v, depth + 1) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return bytes(value.bytes_value)
    return None


def attribute_dict(kvs: Sequence[KeyValue]) -> dict[str, Any]:
    """OTLP KeyValues as a dict: a non-empty string (most attributes) read inline, any_value for the
    rest (``string_value`` is "" for another kind: it asks nothing else of the value; an oversized or
    empty string is any_value's too)."""
    d: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        text = value.string_value
        d[kv.key] = text if text and len(text) <= MAX_ATTRIBUTE_BYTES else any_value(value)
    return d


class ProtoAttributes(Mapping[str, Any]):
    """A read-only mapping over OTLP KeyValues, converted on first access: a resource's (shared by
    every span of its scope, read for a key or two) and an event's."""

    __slots__ = ("_dict", "_kvs")

    def __init__(self, kvs: Sequence[KeyValue]) -> None:
        self._kvs = kvs
        self._dict: dict[str, Any] | None = None

    def _items(self) -> dict[str, Any]:
        if self._dict is None:
            self._dict = attribute_dict(self._kvs)
        return self._dict

    def __getitem__(self, key: str) -> Any:
        d = self._dict
        return (d if d is not None else self._items())[key]

    def __contains__(self, key: object) -> bool:
        d = self._dict
        return key in (d if d is not None else self._items())

    def get(self, key: str, default: Any = None) -> Any:
        d = self._dict
        return (d if d is not None else self._items()).get(key, default)

    def keys(self) -> Any:
        return self._items().keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._kvs)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a span came from: enough to export it again under the same resource and scope."""

    resource: Resource
    scope: InstrumentationScope
    resource_schema_url: str
    scope_schema_url: str
    attributes: ProtoAttributes  # the resource's, shared by every span of the scope


class ProtoEvents(Sequence[SpanEvent]):
    __slots__ = ("_events", "_proto")

    def __init__(self, events: Sequence[Span.Event]) -> None:
        self._proto = events
        self._events: tuple[SpanEvent, ...] | None = None

    def _all(self) -> tuple[SpanEvent, ...]:
        if self._events is None:
            self._events = tuple(SpanEvent(e.name, ProtoAttributes(e.attributes)) for e in self._proto)
        return self._events

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[SpanEvent]:
        # Sequence's own __iter__ indexes until IndexError: an exception per loop over a span's events,
        # and the dialect checks loop over every span's events.
        if not self._proto:
            return iter(())
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._proto)


_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
# OTLP SpanFlags: bit 8 says the sender knew whether the parent was remote, bit 9 that it was. A span
# whose parent is in another process (a traced frontend calling this service) is the local root.
_REMOTE_PARENT = 0x100 | 0x200


def _parent_is_remote(span: Span) -> bool:
    return span.flags & _REMOTE_PARENT == _REMOTE_PARENT


@dataclass(frozen=True, slots=True)
class Decoded:
    """The valid spans of one request grouped by trace: ``trace_id -> [has_root, [(origin, span)...]]``.

    ``arena`` is the request's memory: every span held keeps all of it alive (upb), so the assembler
    charges it whole while any span of the request is held (``mre.processor.assembly``)."""

    traces: dict[bytes, list[Any]]
    spans: int
    arena: Arena
    rejected: int
    error: str | None


def decode_spans(request: ExportTraceServiceRequest, payload_bytes: int) -> Decoded:
    """Validate ids and group by trace id, reading nothing else: this loop is the per-span cost of
    ingest (attributes are read only when a trace is scored). Invalid spans are counted and reported;
    the rest still count."""
    scopes = [(rs, ss) for rs in request.resource_spans for ss in rs.scope_spans if ss.spans]
    total = sum(len(ss.spans) for _, ss in scopes)
    traces: dict[bytes, list[Any]] = {}
    if not total:
        return Decoded(traces, 0, Arena(payload_bytes, 0), 0, None)
    rejected = 0
    error = None
    views: dict[int, ProtoAttributes] = {}
    get = traces.get
    for resource_spans, scope_spans in scopes:
        resource = resource_spans.resource
        view = views.get(id(resource_spans))
        if view is None:
            view = views[id(resource_spans)] = ProtoAttributes(resource.attributes)
        origin = Origin(resource, scope_spans.scope, resource_spans.schema_url, scope_spans.schema_url, view)
        for span in scope_spans.spans:
            trace_id = span.trace_id
            span_id = span.span_id
            if len(trace_id) != 16 or len(span_id) != 8 or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
                rejected += 1
                error = f"span {span.name!r}: trace_id must be 16 bytes and span_id 8 bytes, not all zero"
                continue
            group = get(trace_id)
            if group is None:
                group = traces[trace_id] = [False, []]
            group[1].append((origin, span))
            if not span.parent_span_id or span.flags & _REMOTE_PARENT == _REMOTE_PARENT:
                group[0] = True
    if rejected:
        BAD_INPUT.record(INVALID_SPAN, error or "invalid span", rejected)
    # The whole request is charged while any of its spans is held (what upb really keeps).
    return Decoded(traces, total - rejected, Arena(payload_bytes + 64 * total, total - rejected), rejected, error)


def to_record(item: tuple[Origin, Span]) -> SpanRecord:
    """Materialize a span for scoring, in the worker once its trace is released: its attributes as a
    plain dict (every span's are read, by the dialect checks at least, ~40 lookups a GenAI span: each
    a C call on a dict, a Python call on a lazy view), its events lazily (the proto stays for
    forwarding)."""
    origin, span = item
    parent = span.parent_span_id
    return SpanRecord(
        trace_id=int.from_bytes(span.trace_id, "big"),
        span_id=int.from_bytes(span.span_id, "big"),
        parent_span_id=int.from_bytes(parent, "big") if len(parent) == 8 and parent != _ZERO_SPAN else None,
        parent_is_remote=_parent_is_remote(span),
        name=span.name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=attribute_dict(span.attributes),
        events=ProtoEvents(span.events) if span.events else (),  # most spans have none
        resource=origin.attributes,
        source=item,
    )
