"""Forward scored traces downstream over OTLP/gRPC: spans enriched with ``mre.score.<name>`` and
``mre.failure.cause``, plus one ``gen_ai.evaluation.result`` log record per score, parented to the
evaluated span.

A dead or slow downstream loses nothing silently: batches wait in a bounded queue (counted in spans
and records), are retried with exponential backoff, and what is dropped (queue bound, rejected by the
downstream, still queued at shutdown) is counted by reason. ``close`` drains what it holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
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
from mre.processor.strip import is_content_key, keep_event, score_attributes, strip_documents

logger = logging.getLogger(__name__)

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.DATA_LOSS,
    }
)
DROP_QUEUE_FULL = "queue_full"
DROP_REJECTED = "rejected"
DROP_SHUTDOWN = "shutdown"


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
    if evaluation is not None:
        copy.attributes.extend(_kv(k, v) for k, v in score_attributes(evaluation).items())
    return copy


def _strip(attributes: Any) -> None:
    """Remove content in place from a repeated KeyValue field (documents keep ids and metadata)."""
    kept = []
    for kv in attributes:
        if is_content_key(kv.key):
            continue
        if kv.key == sc.GEN_AI_RETRIEVAL_DOCUMENTS:
            stripped = strip_documents(kv.value.string_value)
            if stripped is None:
                continue
            kv = _kv(kv.key, stripped)
        kept.append(kv)
    del attributes[:]
    attributes.extend(kept)


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
    def __init__(
        self,
        endpoint: str,
        *,
        insecure: bool = True,
        root_certificates: bytes | None = None,
        headers: Sequence[tuple[str, str]] = (),
        max_queue_items: int = 200_000,
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
            "spans": self._channel.unary_unary(
                TRACES_METHOD, request_serializer=identity, response_deserializer=ExportTraceServiceResponse.FromString
            ),
            "logs": self._channel.unary_unary(
                LOGS_METHOD, request_serializer=identity, response_deserializer=ExportLogsServiceResponse.FromString
            ),
        }
        self.endpoint = endpoint
        self.stats = ForwardStats()
        self._headers = tuple(headers)
        self._max_items = max_queue_items
        self._timeout = timeout_s
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._queue: deque[_Batch] = deque()
        self._queued_items = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._closed = False
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="mre-forwarder", daemon=True)
        self._thread.start()

    @property
    def queued_items(self) -> int:
        return self._queued_items

    def on_trace(self, spans: Sequence[SpanRecord], evaluations: Sequence[Evaluation]) -> None:
        """The TraceWorker hook: queue the enriched trace and its evaluation records."""
        traces = trace_request(spans, evaluations, self.strip_content)
        n_spans = sum(len(ss.spans) for rs in traces.resource_spans for ss in rs.scope_spans)
        if n_spans:
            self._enqueue(_Batch("spans", traces.SerializeToString(), n_spans))
        if evaluations:
            logs = logs_request(spans, evaluations, self.strip_content)
            n_logs = sum(len(sl.log_records) for rl in logs.resource_logs for sl in rl.scope_logs)
            if n_logs:
                self._enqueue(_Batch("logs", logs.SerializeToString(), n_logs))

    def _enqueue(self, batch: _Batch) -> None:
        with self._lock:
            if self._closed:
                self.stats.drop(batch.kind, DROP_SHUTDOWN, batch.items)
                return
            if self._queued_items + batch.items > self._max_items:
                self.stats.drop(batch.kind, DROP_QUEUE_FULL, batch.items)
                logger.warning(
                    "forward queue full (%d items): dropped %d %s", self._queued_items, batch.items, batch.kind
                )
                return
            self._queue.append(batch)
            self._queued_items += batch.items
        self._wake.set()

    def _run(self) -> None:
        backoff = self._initial_backoff
        while True:
            if not self._queue:
                if self._closing.is_set():
                    return
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            batch = self._queue[0]
            try:
                self._calls[batch.kind](batch.payload, timeout=self._timeout, metadata=self._headers or None)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code in RETRYABLE:
                    self.stats.retries += 1
                    if self._closing.is_set():
                        remaining = (self._deadline or 0.0) - time.monotonic()
                        if remaining <= 0:
                            return
                        time.sleep(min(backoff, remaining))
                    else:
                        self._closing.wait(backoff)
                    backoff = min(self._max_backoff, backoff * 2)
                    continue
                logger.error("downstream %s rejected %d %s: %s", self.endpoint, batch.items, batch.kind, exc)
                self._pop(batch)
                self.stats.drop(batch.kind, DROP_REJECTED, batch.items)
                continue
            self._pop(batch)
            self.stats.sent[batch.kind] += batch.items
            backoff = self._initial_backoff

    def _pop(self, batch: _Batch) -> None:
        with self._lock:
            self._queue.popleft()
            self._queued_items -= batch.items

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking batches and drain within ``timeout_s``; what is left is counted as dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._deadline = time.monotonic() + timeout_s
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout_s + self._timeout)
        with self._lock:
            for batch in self._queue:
                self.stats.drop(batch.kind, DROP_SHUTDOWN, batch.items)
            self._queue.clear()
            self._queued_items = 0
        self._channel.close()
