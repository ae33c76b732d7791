"""Bad input per span, not per request: what can be read of an OTLP trace request protobuf refuses.

protobuf rejects a whole message when one string field deep inside holds invalid UTF-8, so one bad
span would cost every other span of the request. When that happens this module walks the wire
format itself (one linear pass, no recursion beyond the fixed request → resource → scope → span
nesting), keeps every resource, scope and span that parses on its own, and counts the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class Unreadable(ValueError):
    """Not even the framing of the request can be read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise Unreadable("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of one message's top level, in order."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == _LENGTH:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise Unreadable("truncated length-delimited field")
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire == _FIXED64:
            pos += 8
        elif wire == _FIXED32:
            pos += 4
        else:
            raise Unreadable(f"wire type {wire}")
        if pos > len(data):
            raise Unreadable("truncated fixed-width field")


def salvage(payload: bytes) -> tuple[ExportTraceServiceRequest, int]:
    """The request with every span that can be read on its own, and how many could not."""
    out = ExportTraceServiceRequest()
    rejected = 0
    for number, wire, value in fields(payload):
        if number != 1 or wire != _LENGTH or not isinstance(value, bytes):
            continue  # unknown top-level fields: nothing of ours
        try:
            out.resource_spans.append(ResourceSpans.FromString(value))
            continue
        except DecodeError:
            pass
        resource_spans, lost = _resource_spans(value)
        rejected += lost
        out.resource_spans.append(resource_spans)
    return out, rejected


def _resource_spans(data: bytes) -> tuple[ResourceSpans, int]:
    out = ResourceSpans()
    rejected = 0
    for number, wire, value in fields(data):
        if wire != _LENGTH or not isinstance(value, bytes):
            continue
        if number == 1:
            with contextlib.suppress(DecodeError):  # a resource that cannot be read: its spans still count
                out.resource.CopyFrom(Resource.FromString(value))
        elif number == 2:
            try:
                out.scope_spans.append(ScopeSpans.FromString(value))
            except DecodeError:
                scope_spans, lost = _scope_spans(value)
                rejected += lost
                out.scope_spans.append(scope_spans)
        elif number == 3:
            out.schema_url = _text(value)
    return out, rejected


def _scope_spans(data: bytes) -> tuple[ScopeSpans, int]:
    out = ScopeSpans()
    rejected = 0
    for number, wire, value in fields(data):
        if wire != _LENGTH or not isinstance(value, bytes):
            continue
        if number == 1:
            with contextlib.suppress(DecodeError):
                out.scope.CopyFrom(InstrumentationScope.FromString(value))
        elif number == 2:
            try:
                out.spans.append(Span.FromString(value))
            except DecodeError:
                rejected += 1
        elif number == 3:
            out.schema_url = _text(value)
    return out, rejected


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")
