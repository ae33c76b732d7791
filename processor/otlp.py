"""OTLP trace requests to :class:`SpanRecord`, lazily.

Ingest must run near the speed of protobuf decoding, so a record only reads ids, times and size up
front; attributes and events are converted on first access (in the scoring worker, not the gRPC
thread). The original proto span and its resource/scope stay attached for forwarding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mre.processor.health import BAD_INPUT, INVALID_SPAN, OVERSIZED_ATTRIBUTE
from mre.processor.spans import SpanEvent, SpanRecord
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

# Larger string values are not read (a prompt of a megabyte is a bug or an attack, not a question).
MAX_ATTRIBUTE_BYTES = 1024 * 1024
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a span came from: enough to export it again under the same resource and scope."""

    resource: Resource
    scope: InstrumentationScope
    resource_schema_url: str
    scope_schema_url: str


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


class ProtoAttributes(Mapping[str, Any]):
    """A read-only mapping over OTLP KeyValues, converted on first access."""

    __slots__ = ("_dict", "_kvs")

    def __init__(self, kvs: Sequence[KeyValue]) -> None:
        self._kvs = kvs
        self._dict: dict[str, Any] | None = None

    def _items(self) -> dict[str, Any]:
        if self._dict is None:
            self._dict = {kv.key: any_value(kv.value) for kv in self._kvs}
        return self._dict

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._kvs)


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

    def __len__(self) -> int:
        return len(self._proto)


@dataclass(frozen=True, slots=True)
class Decoded:
    records: list[SpanRecord]
    rejected: int
    error: str | None


def records_from_request(request: ExportTraceServiceRequest) -> Decoded:
    """Every valid span of the request; invalid ones (bad ids) are counted, the rest still count."""
    records: list[SpanRecord] = []
    rejected = 0
    error = None
    for resource_spans in request.resource_spans:
        resource = ProtoAttributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            origin = Origin(
                resource_spans.resource, scope_spans.scope, resource_spans.schema_url, scope_spans.schema_url
            )
            for span in scope_spans.spans:
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or not any(trace_id) or not any(span_id):
                    rejected += 1
                    error = f"span {span.name!r}: trace_id must be 16 bytes and span_id 8 bytes, not all zero"
                    continue
                parent_id = int.from_bytes(parent, "big") if len(parent) == 8 and any(parent) else None
                records.append(
                    SpanRecord(
                        trace_id=int.from_bytes(trace_id, "big"),
                        span_id=int.from_bytes(span_id, "big"),
                        parent_span_id=parent_id,
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=ProtoAttributes(span.attributes),
                        events=ProtoEvents(span.events),  # type: ignore[arg-type]
                        resource=resource,
                        size_bytes=span.ByteSize(),
                        source=(origin, span),
                    )
                )
    if rejected:
        BAD_INPUT.record(INVALID_SPAN, error or "invalid span", rejected)
    return Decoded(records, rejected, error)
