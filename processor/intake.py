"""What `mre serve` does with one OTLP export request, whatever carried it (gRPC or HTTP).

Traces are decoded (one unreadable span costs itself only), checked against the worker's bounds and
queued whole, or refused whole; logs carry human verdicts; metrics are accepted and dropped, counted
(apps with the distro export OTLP metrics to the same endpoint: an error would make their exporter
retry and log forever). A refusal is a :class:`Refused` with the kind the transport maps to its own
status (INVALID_ARGUMENT / 400, RESOURCE_EXHAUSTED / 503 ...). OTLP/JSON (hex trace and span ids, as
the OTLP spec has them) is converted to the protobuf request first.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from mre.human_feedback import HumanVerdict
from mre.processor.feedback_intake import decode_feedback
from mre.processor.health import BAD_INPUT, INVALID_FEEDBACK, INVALID_SPAN, MALFORMED_REQUEST
from mre.processor.limits import Tally
from mre.processor.otlp import Decoded, decode_spans
from mre.processor.otlp_salvage import Unreadable, salvage
from mre.processor.worker import TraceWorker

M = TypeVar("M", bound=Message)

INVALID = "invalid"  # the request cannot be read: do not retry
TOO_LARGE = "too_large"  # larger than the queue can ever take: do not retry, send smaller batches
BUSY = "busy"  # the queue is full now: retry later

_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


class Refused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# Data points and records mre takes and drops (application metrics), by signal, for /metrics.
IGNORED = Tally(("metrics", "logs"))


def json_to_protobuf(body: bytes, message: type[M]) -> bytes:
    """An OTLP/JSON request as the protobuf bytes of ``message`` (ids are hex in OTLP/JSON, base64 in
    protobuf's own JSON mapping); :class:`Refused` when it is not OTLP/JSON."""
    try:
        data = json.loads(body)
        _hex_ids_to_base64(data)
        parsed = json_format.ParseDict(data, message(), ignore_unknown_fields=True)
    except (ValueError, RecursionError, json_format.ParseError, TypeError, binascii.Error) as exc:
        BAD_INPUT.record(MALFORMED_REQUEST, f"unreadable OTLP/JSON {message.__name__} ({exc})")
        raise Refused(INVALID, f"malformed OTLP/JSON {message.__name__}: {exc}") from None
    return parsed.SerializeToString()


def _hex_ids_to_base64(root: Any) -> None:
    stack = [root]
    while stack:  # iterative: a deeply nested document cannot exhaust the stack here
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_FIELDS and isinstance(value, str) and value:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


class Intake:
    def __init__(self, worker: TraceWorker[Decoded], on_feedback: Callable[[HumanVerdict], None] | None = None) -> None:
        self._worker = worker
        self._on_feedback = on_feedback

    @property
    def takes_feedback(self) -> bool:
        return self._on_feedback is not None

    def traces(self, request: bytes) -> ExportTraceServiceResponse:
        parsed, unreadable = self._parse_traces(request)
        decoded = decode_spans(parsed, len(request))
        if unreadable:
            decoded = replace(
                decoded,
                rejected=decoded.rejected + unreadable,
                error=decoded.error or f"{unreadable} span(s) could not be decoded (invalid UTF-8?)",
            )
        worker = self._worker
        if decoded.spans and not worker.fits(decoded.spans, len(request)):
            # Retrying cannot help a request larger than the queue can ever hold: a permanent error.
            raise Refused(
                TOO_LARGE,
                f"a request of {decoded.spans} spans / {len(request)} bytes exceeds mre's queue "
                f"({worker.max_spans} spans / {worker.max_bytes} bytes): send smaller batches",
            )
        if decoded.spans and not worker.offer(decoded, decoded.spans, size=len(request), refuse_when_full=True):
            raise Refused(BUSY, "mre is at its queue bound; retry later")
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=decoded.rejected, error_message=decoded.error or "")
            )
        return response

    def _parse_traces(self, request: bytes) -> tuple[ExportTraceServiceRequest, int]:
        """The spans that can be read: one span protobuf refuses (invalid UTF-8) costs itself only."""
        try:
            return ExportTraceServiceRequest.FromString(request), 0
        except DecodeError:
            pass
        try:
            salvaged, lost = salvage(request)
        except (Unreadable, DecodeError) as exc:
            BAD_INPUT.record(MALFORMED_REQUEST, f"undecodable ExportTraceServiceRequest ({exc})")
            raise Refused(INVALID, f"malformed ExportTraceServiceRequest: {exc}") from None
        if lost:
            BAD_INPUT.record(INVALID_SPAN, f"{lost} span(s) protobuf cannot read (invalid UTF-8?)", lost)
        return salvaged, lost

    def logs(self, request: bytes) -> ExportLogsServiceResponse:
        """Human verdicts (``gen_ai.evaluation.result`` marked human); other records are ignored."""
        parsed = _parse(request, ExportLogsServiceRequest)
        response = ExportLogsServiceResponse()
        if self._on_feedback is None:
            IGNORED.record("logs", sum(len(s.log_records) for r in parsed.resource_logs for s in r.scope_logs))
            return response
        decoded = decode_feedback(parsed)
        for verdict in decoded.verdicts:
            self._on_feedback(verdict)
        if decoded.rejected:
            BAD_INPUT.record(INVALID_FEEDBACK, decoded.error or "unreadable human verdict", decoded.rejected)
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(rejected_log_records=decoded.rejected, error_message=decoded.error or "")
            )
        return response

    def metrics(self, request: bytes) -> ExportMetricsServiceResponse:
        """Application metrics: accepted and dropped (mre scores traces), counted by data point."""
        parsed = _parse(request, ExportMetricsServiceRequest)
        points = 0
        for resource in parsed.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    points += len(getattr(metric, kind).data_points) if kind else 0
        IGNORED.record("metrics", points)
        return ExportMetricsServiceResponse()


def _parse(request: bytes, message: type[M]) -> M:
    try:
        return message.FromString(request)
    except DecodeError as exc:
        BAD_INPUT.record(MALFORMED_REQUEST, f"undecodable {message.__name__} ({exc})")
        raise Refused(INVALID, f"malformed {message.__name__}: {exc}") from None
