"""Forward scored traces downstream over OTLP/gRPC: spans enriched with ``mre.score.<name>`` and
``mre.failure.cause``, plus one ``gen_ai.evaluation.result`` log record per score, parented to the
evaluated span.

A dead or slow downstream loses nothing silently: batches wait in a bounded queue (counted in spans
and records), are retried with exponential backoff, and what is dropped (queue bound, rejected by the
downstream, still queued at shutdown) is counted by reason. ``close`` drains what it holds.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

import mre
from mre import semconv as sc
from mre.exporters.evaluation_events import evaluation_attributes
from mre.model import Evaluation
from mre.processor.otlp import Origin
from mre.processor.spans import SpanRecord
from mre.processor.strip import is_safe, keep_event, score_attributes, strip_documents

logger = logging.getLogger(__name__)

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,  # throttling (a size refusal is told apart: _too_large)
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.DATA_LOSS,
    }
)
DROP_QUEUE_FULL = "queue_full"
DROP_REJECTED = "rejected"
DROP_SHUTDOWN = "shutdown"
DROP_TOO_LARGE = "too_large"  # one span or record over the request limit: it can never be delivered
SPANS = "spans"
LOGS = "logs"
# What a gRPC receiver takes by default (the collector's OTLP receiver too): 4 MiB.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024 - 64 * 1024


@dataclass
class _Batch:
    kind: str  # "spans" | "logs"
    payload: bytes
    items: int


@dataclass
class ForwardStats:
    sent: dict[str, int] = field(default_factory=lambda: {"spans": 0, "logs": 0})
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, reason) -> items
    retries: int = 0

    def drop(self, kind: str, reason: str, n: int) -> None:
        self.dropped[(kind, reason)] = self.dropped.get((kind, reason), 0) + n


def _kv(key: str, value: str | float | int | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def enrich(span: Span, evaluation: Evaluation | None, strip_content: bool = False) -> Span:
    copy = Span()
    copy.CopyFrom(span)
    if strip_content:
        _strip(copy.attributes)
        kept = [e for e in copy.events if keep_event(e.name)]
        del copy.events[:]
        for event in kept:
            _strip(event.attributes)
            copy.events.append(event)
        copy.status.message = ""  # an error's message may quote the input
    if evaluation is not None:
        copy.attributes.extend(_kv(k, v) for k, v in score_attributes(evaluation).items())
    return copy


def _strip(attributes: Any) -> None:
    """Keep in place only what may leave (``mre.processor.strip``): a repeated KeyValue field."""
    kept = []
    for kv in attributes:
        if kv.key == sc.GEN_AI_RETRIEVAL_DOCUMENTS:
            stripped = strip_documents(kv.value.string_value)
            if stripped is not None:
                kept.append(_kv(kv.key, stripped))
        elif is_safe(kv.key, _plain(kv.value)):
            kept.append(kv)
    del attributes[:]
    attributes.extend(kept)


def _plain(value: AnyValue) -> Any:
    """Enough of an AnyValue to tell text from numbers (nested lists and maps count as text)."""
    kind = value.WhichOneof("value")
    if kind in ("int_value", "double_value", "bool_value"):
        return getattr(value, kind)
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    return ""


def trace_request(
    spans: Sequence[SpanRecord], evaluations: Sequence[Evaluation], strip_content: bool = False
) -> ExportTraceServiceRequest:
    """All spans of the trace under their original resource and scope, generation spans enriched."""
    by_span = {int(e.interaction.span_id, 16): e for e in evaluations}
    request = ExportTraceServiceRequest()
    groups: dict[tuple[int, int], ScopeSpans] = {}
    resources: dict[int, ResourceSpans] = {}
    for record in spans:
        if not isinstance(record.source, tuple):
            continue
        origin, span = record.source
        assert isinstance(origin, Origin)
        resource_spans = resources.get(id(origin.resource))
        if resource_spans is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.CopyFrom(origin.resource)
            resource_spans.schema_url = origin.resource_schema_url
            resources[id(origin.resource)] = resource_spans
        key = (id(origin.resource), id(origin.scope))
        scope_spans = groups.get(key)
        if scope_spans is None:
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.CopyFrom(origin.scope)
            scope_spans.schema_url = origin.scope_schema_url
            groups[key] = scope_spans
        evaluation = by_span.get(record.span_id)
        if evaluation is None and not strip_content:
            scope_spans.spans.append(span)
        else:
            scope_spans.spans.append(enrich(span, evaluation, strip_content))
    return request


def logs_request(
    spans: Sequence[SpanRecord], evaluations: Sequence[Evaluation], strip_content: bool = False
) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    origins = {r.span_id: r.source[0] for r in spans if isinstance(r.source, tuple)}
    now = time.time_ns()
    for evaluation in evaluations:
        span_id = int(evaluation.interaction.span_id, 16)
        resource_logs = ResourceLogs()
        origin = origins.get(span_id)
        if origin is not None:
            resource_logs.resource.CopyFrom(origin.resource)
        scope_logs = ScopeLogs(scope=InstrumentationScope(name="mre.processor", version=mre.__version__))
        for attributes in evaluation_attributes(evaluation, strip_content):
            scope_logs.log_records.append(
                LogRecord(
                    time_unix_nano=now,
                    observed_time_unix_nano=now,
                    severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
                    severity_text="INFO",
                    event_name=sc.EVENT_EVALUATION_RESULT,
                    trace_id=int(evaluation.interaction.trace_id, 16).to_bytes(16, "big"),
                    span_id=span_id.to_bytes(8, "big"),
                    flags=1,
                    attributes=[_kv(k, v) for k, v in attributes.items()],
                )
            )
        resource_logs.scope_logs.append(scope_logs)
        request.resource_logs.append(resource_logs)
    return request


class OtlpForwarder:
    """Sends what ``on_trace`` queues, from one daemon thread.

    Bounded in items and in bytes. Batches of one kind are sent together up to ``max_request_bytes``
    (the collector's and gRPC's default receive limit is 4 MiB); a trace larger than that is split
    by span on the way in, and a single span larger than that is dropped (counted ``too_large``). A
    downstream that rejects a request for its size makes the forwarder send smaller ones; a
    permanent error is not retried (counted ``rejected``); ``UNAVAILABLE`` and throttling are retried
    with exponential backoff. ``close`` drains until its deadline; what is left is counted
    (``shutdown``), and a last log line says what was delivered and what was not, by reason."""

    def __init__(
        self,
        endpoint: str,
        *,
        insecure: bool = True,
        root_certificates: bytes | None = None,
        headers: Sequence[tuple[str, str]] = (),
        max_queue_items: int = 200_000,
        max_queue_bytes: int = 256 * 1024 * 1024,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        timeout_s: float = 10.0,
        initial_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        strip_content: bool = False,
    ) -> None:
        self.strip_content = strip_content
        if insecure:
            self._channel = grpc.insecure_channel(endpoint)
        else:
            self._channel = grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(root_certificates))
        identity: Any = lambda payload: payload  # noqa: E731 - payloads are serialized when queued
        self._calls = {
            SPANS: self._channel.unary_unary(
                TRACES_METHOD, request_serializer=identity, response_deserializer=ExportTraceServiceResponse.FromString
            ),
            LOGS: self._channel.unary_unary(
                LOGS_METHOD, request_serializer=identity, response_deserializer=ExportLogsServiceResponse.FromString
            ),
        }
        self.endpoint = endpoint
        self.stats = ForwardStats()
        self._headers = tuple(headers)
        self._max_items = max_queue_items
        self._max_bytes = max_queue_bytes
        self.max_request_bytes = max_request_bytes
        self._send_limit = max_request_bytes  # lowered when the downstream accepts less
        self._timeout = timeout_s
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._queue: deque[_Batch] = deque()
        self._queued_items = 0
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._closed = False
        self._deadline: float | None = None
        self._full_log = _Throttled(logger, 10.0)
        self._thread = threading.Thread(target=self._run, name="mre-forwarder", daemon=True)
        self._thread.start()

    @property
    def queued_items(self) -> int:
        return self._queued_items

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def on_trace(self, spans: Sequence[SpanRecord], evaluations: Sequence[Evaluation]) -> None:
        """The TraceWorker hook: queue the enriched trace and its evaluation records."""
        traces = trace_request(spans, evaluations, self.strip_content)
        for batch in _split(traces, SPANS, self.max_request_bytes, self.stats):
            self._enqueue(batch)
        if evaluations:
            logs = logs_request(spans, evaluations, self.strip_content)
            for batch in _split(logs, LOGS, self.max_request_bytes, self.stats):
                self._enqueue(batch)

    def _enqueue(self, batch: _Batch) -> None:
        size = len(batch.payload)
        with self._lock:
            if self._closed:
                self.stats.drop(batch.kind, DROP_SHUTDOWN, batch.items)
                return
            if self._queued_items + batch.items > self._max_items or self._queued_bytes + size > self._max_bytes:
                self.stats.drop(batch.kind, DROP_QUEUE_FULL, batch.items)
                full = True
            else:
                self._queue.append(batch)
                self._queued_items += batch.items
                self._queued_bytes += size
                full = False
        if full:
            self._full_log.warning(
                "forward queue full (%d items, %d bytes): dropping what arrives [mre_forward_dropped_total]",
                self._queued_items,
                self._queued_bytes,
            )
            return
        self._wake.set()

    def _take(self) -> list[_Batch]:
        """The next request: consecutive batches of one kind, up to the send limit."""
        with self._lock:
            if not self._queue:
                return []
            first = self._queue[0]
            taken, size = [first], len(first.payload)
            for batch in itertools.islice(self._queue, 1, None):
                if batch.kind != first.kind or size + len(batch.payload) > self._send_limit:
                    break
                taken.append(batch)
                size += len(batch.payload)
            return taken

    def _done(self, taken: list[_Batch]) -> None:
        with self._lock:
            for batch in taken:
                self._queue.popleft()
                self._queued_items -= batch.items
                self._queued_bytes -= len(batch.payload)

    def _run(self) -> None:
        backoff = self._initial_backoff
        try:
            while True:
                taken = self._take()
                if not taken:
                    if self._closing.is_set():
                        return
                    self._wake.wait(0.2)
                    self._wake.clear()
                    continue
                if self._closing.is_set() and time.monotonic() >= (self._deadline or 0.0):
                    return  # close() counts what is left
                kind, items = taken[0].kind, sum(b.items for b in taken)
                # Concatenated messages of one type are one message: the batches merge for free.
                payload = b"".join(b.payload for b in taken)
                try:
                    self._calls[kind](payload, timeout=self._timeout, metadata=self._headers or None)
                except grpc.RpcError as exc:
                    code = exc.code() if hasattr(exc, "code") else None
                    if _too_large(exc):  # the downstream takes less than we send: send less
                        self._send_limit = max(1024, len(payload) // 2)
                        if len(taken) == 1 and not self._resplit(taken[0]):
                            logger.error("downstream %s refused a %d-byte span batch", self.endpoint, len(payload))
                            self._done(taken)
                            self.stats.drop(kind, DROP_TOO_LARGE, items)
                        continue
                    if code in RETRYABLE:
                        self.stats.retries += 1
                        self._backoff(backoff)
                        backoff = min(self._max_backoff, backoff * 2)
                        continue
                    logger.error("downstream %s rejected %d %s: %s", self.endpoint, items, kind, code)
                    self._done(taken)
                    self.stats.drop(kind, DROP_REJECTED, items)
                    continue
                self._done(taken)
                self.stats.sent[kind] += items
                backoff = self._initial_backoff
        except Exception:  # the forwarder must not die silently: say so, and let close() count
            logger.exception("forwarder stopped")

    def _resplit(self, batch: _Batch) -> bool:
        """Replace the head batch by pieces under the send limit; False when it cannot be cut."""
        message = ExportTraceServiceRequest() if batch.kind == SPANS else ExportLogsServiceRequest()
        message.ParseFromString(batch.payload)
        stats = ForwardStats()
        pieces = list(_split(message, batch.kind, self._send_limit, stats))
        if len(pieces) <= 1:
            return False
        for (kind, reason), n in stats.dropped.items():
            self.stats.drop(kind, reason, n)
        with self._lock:
            self._queue.popleft()
            self._queued_items -= batch.items
            self._queued_bytes -= len(batch.payload)
            for piece in reversed(pieces):
                self._queue.appendleft(piece)
                self._queued_items += piece.items
                self._queued_bytes += len(piece.payload)
        return True

    def _backoff(self, seconds: float) -> None:
        if self._closing.is_set():
            remaining = (self._deadline or 0.0) - time.monotonic()
            time.sleep(max(0.0, min(seconds, remaining)))
        else:
            self._closing.wait(seconds)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking batches and drain within ``timeout_s``; what is left is counted as dropped, and
        one line logs what was delivered and what was not."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._deadline = time.monotonic() + timeout_s
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout_s + self._timeout + 1.0)
        with self._lock:  # the sender has stopped (or is stuck past its deadline): nothing pops now
            for batch in self._queue:
                self.stats.drop(batch.kind, DROP_SHUTDOWN, batch.items)
            self._queue.clear()
            self._queued_items = self._queued_bytes = 0
        self._channel.close()
        dropped = ", ".join(f"{n} {kind} {reason}" for (kind, reason), n in sorted(self.stats.dropped.items()))
        logger.warning(
            "forwarder to %s closed: delivered %d spans and %d evaluation records; dropped: %s",
            self.endpoint,
            self.stats.sent[SPANS],
            self.stats.sent[LOGS],
            dropped or "nothing",
        )


def _too_large(exc: grpc.RpcError) -> bool:
    """The downstream's message size limit (gRPC says RESOURCE_EXHAUSTED, "larger than max")."""
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details.lower()


def _split(request: Any, kind: str, limit: int, stats: ForwardStats) -> Iterator[_Batch]:
    """One request as batches of at most ``limit`` bytes, each a valid request of its own (resource
    and scope kept); a single span or record over the limit is dropped and counted."""
    payload = request.SerializeToString()
    items = _count(request, kind)
    if not items:
        return
    if len(payload) <= limit:
        yield _Batch(kind, payload, items)
        return
    resources = request.resource_spans if kind == SPANS else request.resource_logs
    for resource in resources:
        scopes = resource.scope_spans if kind == SPANS else resource.scope_logs
        for scope in scopes:
            entries = scope.spans if kind == SPANS else scope.log_records
            chunk: list[Any] = []
            size = 0
            for entry in entries:
                entry_size = entry.ByteSize()
                if entry_size + 1024 > limit:
                    stats.drop(kind, DROP_TOO_LARGE, 1)
                    continue
                if chunk and size + entry_size + 1024 > limit:
                    yield _chunk(request, kind, resource, scope, chunk)
                    chunk, size = [], 0
                chunk.append(entry)
                size += entry_size + 16
            if chunk:
                yield _chunk(request, kind, resource, scope, chunk)


def _chunk(request: Any, kind: str, resource: Any, scope: Any, entries: list[Any]) -> _Batch:
    out = type(request)()
    if kind == SPANS:
        target = out.resource_spans.add()
        target.resource.CopyFrom(resource.resource)
        target.schema_url = resource.schema_url
        part = target.scope_spans.add()
        part.scope.CopyFrom(scope.scope)
        part.schema_url = scope.schema_url
        part.spans.extend(entries)
    else:
        target = out.resource_logs.add()
        target.resource.CopyFrom(resource.resource)
        part = target.scope_logs.add()
        part.scope.CopyFrom(scope.scope)
        part.log_records.extend(entries)
    return _Batch(kind, out.SerializeToString(), len(entries))


def _count(request: Any, kind: str) -> int:
    if kind == SPANS:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


class _Throttled:
    """At most one line per ``every_s`` (with how many were held back), so a flood logs a trickle."""

    def __init__(self, log: logging.Logger, every_s: float) -> None:
        self._log, self._every = log, every_s
        self._last = -1e18
        self._held = 0
        self._lock = threading.Lock()

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._every:
                self._held += 1
                return
            held, self._held, self._last = self._held, 0, now
        self._log.warning(message + (f" ({held} more like this)" if held else ""), *args)
