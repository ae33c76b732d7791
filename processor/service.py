"""`mre serve`: the behaviour processor as an OTLP/gRPC TraceService.

Requests are decoded here (malformed protobuf gets INVALID_ARGUMENT with the reason), converted to
lazy SpanRecords and handed to the shared TraceWorker; invalid spans are reported in OTLP
``partial_success`` while the rest of the request is still scored. When the queue cannot take a whole
request the answer is RESOURCE_EXHAUSTED, which OTLP exporters retry: nothing is half-accepted.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from mre.human_feedback import HumanVerdict
from mre.processor.assembly import TraceAssembler
from mre.processor.feedback_intake import decode_feedback
from mre.processor.health import BAD_INPUT, INVALID_FEEDBACK, INVALID_SPAN, MALFORMED_REQUEST, UNAUTHENTICATED
from mre.processor.interactions import ReadOptions
from mre.processor.otlp import Decoded, decode_spans, to_record
from mre.processor.otlp_salvage import Unreadable, salvage
from mre.processor.pipeline import ScoringPipeline
from mre.processor.worker import TraceHook, TraceWorker

logger = logging.getLogger(__name__)
M = TypeVar("M", ExportTraceServiceRequest, ExportLogsServiceRequest)

TRACE_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
DEFAULT_LISTEN = "0.0.0.0:4317"
DEFAULT_METRICS = "0.0.0.0:9464"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    listen: str = DEFAULT_LISTEN
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    token: str | None = None  # bearer token required in `authorization` metadata when set
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    max_queue_spans: int = 200_000
    max_queue_bytes: int = 256 * 1024 * 1024  # requests waiting for the worker, as received
    grace_s: float = 2.0
    timeout_s: float = 60.0
    max_traces: int = 50_000
    max_bytes: int = 512 * 1024 * 1024
    workers: int = 8
    max_concurrent_requests: int = 16
    # The index's names for the metadata scoring reads (``updated_at=last_modified,...``), every dialect.
    metadata_keys: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and a key")
        if self.max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")


def ingest_decoded(decoded: Decoded, assembler: TraceAssembler, now: float) -> None:
    add = assembler.add_items
    arena = decoded.arena
    for key, (has_root, items) in decoded.traces.items():
        add(key, items, has_root, 0, now, arena)


def authorized(metadata: Any, token: bytes | None) -> bool:
    """``authorization: Bearer <token>``, the scheme in any case; constant-time on the token."""
    if token is None:
        return True
    for key, value in metadata or ():
        if key == "authorization":
            given = value.encode() if isinstance(value, str) else bytes(value)
            scheme, _, credential = given.strip().partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), token)
    return False


class _OtlpHandler(grpc.GenericRpcHandler):
    """TraceService (spans to score) and, when human feedback is taken, LogsService (its verdicts)."""

    def __init__(
        self,
        worker: TraceWorker[Decoded],
        token: str | None,
        on_feedback: Callable[[HumanVerdict], None] | None = None,
    ) -> None:
        self._worker = worker
        self._on_feedback = on_feedback
        self._token = token.encode() if token else None
        self._export_handler = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        self._logs_handler = grpc.unary_unary_rpc_method_handler(self._export_logs)
        # Refuses before the body is read: a stream handler that never asks for the request.
        self._unauthenticated = grpc.stream_unary_rpc_method_handler(self._refuse)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method == TRACE_EXPORT_METHOD:
            handler = self._export_handler
        elif method == LOGS_EXPORT_METHOD and self._on_feedback is not None:
            handler = self._logs_handler
        else:
            return None
        if not authorized(handler_call_details.invocation_metadata, self._token):
            BAD_INPUT.record(UNAUTHENTICATED, "request without a valid bearer token")
            return self._unauthenticated
        return handler

    def _refuse(self, requests: Any, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
        raise AssertionError("abort raises")  # pragma: no cover

    def _parse(self, request: bytes, message: type[M], context: grpc.ServicerContext) -> M:
        """The request, or the call aborted with INVALID_ARGUMENT and the reason."""
        name = message.__name__
        try:
            return message.FromString(request)
        except DecodeError as exc:
            BAD_INPUT.record(MALFORMED_REQUEST, f"undecodable {name} ({exc})")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed {name}: {exc}")
            raise  # abort raises; this keeps type checkers and readers sure nothing follows

    def _parse_traces(self, request: bytes, context: grpc.ServicerContext) -> tuple[ExportTraceServiceRequest, int]:
        """The spans that can be read: one span protobuf refuses (invalid UTF-8) costs itself only."""
        try:
            return ExportTraceServiceRequest.FromString(request), 0
        except DecodeError:
            pass
        try:
            salvaged, lost = salvage(request)
        except (Unreadable, DecodeError) as exc:
            BAD_INPUT.record(MALFORMED_REQUEST, f"undecodable ExportTraceServiceRequest ({exc})")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed ExportTraceServiceRequest: {exc}")
            raise
        if lost:
            BAD_INPUT.record(INVALID_SPAN, f"{lost} span(s) protobuf cannot read (invalid UTF-8?)", lost)
        return salvaged, lost

    def _export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        parsed, unreadable = self._parse_traces(request, context)
        decoded = decode_spans(parsed, len(request))
        if unreadable:
            decoded = replace(
                decoded,
                rejected=decoded.rejected + unreadable,
                error=decoded.error or f"{unreadable} span(s) could not be decoded (invalid UTF-8?)",
            )
        if decoded.spans and not self._worker.fits(decoded.spans, len(request)):
            # Retrying cannot help a request larger than the queue can ever hold: a permanent error.
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a request of {decoded.spans} spans / {len(request)} bytes exceeds mre's queue "
                f"({self._worker.max_spans} spans / {self._worker.max_bytes} bytes): send smaller batches",
            )
        if decoded.spans and not self._worker.offer(decoded, decoded.spans, size=len(request), refuse_when_full=True):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "mre is at its queue bound; retry later")
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=decoded.rejected, error_message=decoded.error or "")
            )
        return response.SerializeToString()

    def _export_logs(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """Human verdicts (``gen_ai.evaluation.result`` marked human); other records are ignored."""
        assert self._on_feedback is not None
        decoded = decode_feedback(self._parse(request, ExportLogsServiceRequest, context))
        for verdict in decoded.verdicts:
            self._on_feedback(verdict)
        response = ExportLogsServiceResponse()
        if decoded.rejected:
            BAD_INPUT.record(INVALID_FEEDBACK, decoded.error or "unreadable human verdict", decoded.rejected)
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(rejected_log_records=decoded.rejected, error_message=decoded.error or "")
            )
        return response.SerializeToString()


class BehaviorService:
    """The gRPC server plus the worker. ``on_trace`` receives every scored trace (forwarding);
    ``on_feedback``, when given, every human verdict sent to the LogsService."""

    def __init__(
        self,
        config: ServiceConfig,
        pipeline: ScoringPipeline,
        on_trace: TraceHook | None = None,
        on_feedback: Callable[[HumanVerdict], None] | None = None,
    ) -> None:
        self.config = config
        self.worker: TraceWorker[Decoded] = TraceWorker(
            ingest_decoded,
            pipeline,
            TraceAssembler(
                grace_s=config.grace_s,
                timeout_s=config.timeout_s,
                max_traces=config.max_traces,
                max_bytes=config.max_bytes,
            ),
            release=to_record,
            max_queue_spans=config.max_queue_spans,
            max_queue_bytes=config.max_queue_bytes,
            on_trace=on_trace,
            name="mre-serve-worker",
            read_options=ReadOptions(metadata_keys=dict(config.metadata_keys)),
        )
        options: Sequence[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
        # Beyond this many calls at once, new ones get RESOURCE_EXHAUSTED before their body is read:
        # memory in flight is bounded by it times --max-message-bytes.
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.workers),
            options=options,
            maximum_concurrent_rpcs=config.max_concurrent_requests,
        )
        self._server.add_generic_rpc_handlers((_OtlpHandler(self.worker, config.token, on_feedback),))
        if config.tls_cert is not None and config.tls_key is not None:
            credentials = grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])
            self.port = self._server.add_secure_port(config.listen, credentials)
        else:
            self.port = self._server.add_insecure_port(config.listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {config.listen}")

    @property
    def pipeline(self) -> ScoringPipeline:
        return self.worker.pipeline

    def start(self) -> BehaviorService:
        self._server.start()
        return self

    def healthy(self) -> bool:
        return self.worker.alive

    def stop(self, grace_s: float = 5.0, on_drained: Callable[[], None] | None = None) -> None:
        """Stop taking requests, score what is held, then let the caller drain its outputs."""
        self._server.stop(grace_s).wait(grace_s + 1)
        self.worker.close()
        if on_drained is not None:
            on_drained()
