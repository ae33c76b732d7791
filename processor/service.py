"""`mre serve`: the behaviour processor as an OTLP receiver, gRPC (TraceService, LogsService,
MetricsService) and HTTP (:mod:`mre.processor.otlp_http`), one intake (:mod:`mre.processor.intake`).

Requests are decoded (malformed protobuf gets INVALID_ARGUMENT with the reason), converted to
lazy SpanRecords and handed to the shared TraceWorker; invalid spans are reported in OTLP
``partial_success`` while the rest of the request is still scored. When the queue cannot take a whole
request the answer is RESOURCE_EXHAUSTED, which OTLP exporters retry: nothing is half-accepted.
"""

from __future__ import annotations

import errno
import hmac
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from mre.human_feedback import HumanVerdict
from mre.processor.assembly import TraceAssembler
from mre.processor.health import BAD_INPUT, UNAUTHENTICATED
from mre.processor.intake import BUSY, INVALID, TOO_LARGE, Intake, Refused
from mre.processor.interactions import ReadOptions
from mre.processor.otlp import Decoded, to_record
from mre.processor.otlp_http import OtlpHttpReceiver
from mre.processor.pipeline import ScoringPipeline
from mre.processor.worker import TraceHook, TraceWorker

logger = logging.getLogger(__name__)

TRACE_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
METRICS_EXPORT_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
DEFAULT_LISTEN = "0.0.0.0:4317"
DEFAULT_LISTEN_HTTP = "0.0.0.0:4318"
DEFAULT_METRICS = "0.0.0.0:9464"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    listen: str = DEFAULT_LISTEN
    listen_http: str | None = None  # OTLP/HTTP address (`mre serve` default 0.0.0.0:4318); None: off
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
        split_listen(self.listen)
        if self.listen_http:
            split_listen(self.listen_http)


def split_listen(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4318`` for IPv6) with a clear error, never a default port."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r}: expected HOST:PORT with a port number, e.g. 0.0.0.0:4318")
    return host.strip("[]") or "0.0.0.0", int(port)


def _check_free(listen: str) -> None:
    """Refuse a port that is taken before gRPC tries it (gRPC logs its own bind failure in C, and
    with SO_REUSEPORT would share the port with another mre serve)."""
    host, port = split_listen(listen)
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # an address gRPC may still resolve; its own error follows
    for family, kind, proto, _, address in infos[:1]:
        with socket.socket(family, kind, proto) as probe:
            # As gRPC itself binds: SO_REUSEADDR passes over TIME_WAIT connections of a previous run,
            # and on Linux still fails when another socket listens on the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(
                        errno.EADDRINUSE,
                        f"cannot listen for OTLP/gRPC on {listen}: the port is in use (another mre serve?); "
                        "stop it or pick another port with --listen",
                    ) from None


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


_GRPC_CODES = {
    INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,  # permanent: the OTLP exporters do not retry it
    BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,  # retried by the OTLP exporters
}


class _OtlpHandler(grpc.GenericRpcHandler):
    """TraceService (spans to score), LogsService (human verdicts; other records ignored) and
    MetricsService (application metrics, accepted and dropped, counted)."""

    def __init__(self, intake: Intake, token: str | None) -> None:
        self._intake = intake
        self._token = token.encode() if token else None
        # Raw bytes in and out: the intake parses, so gRPC and HTTP share one path.
        self._handlers = {
            TRACE_EXPORT_METHOD: grpc.unary_unary_rpc_method_handler(self._call(intake.traces)),
            LOGS_EXPORT_METHOD: grpc.unary_unary_rpc_method_handler(self._call(intake.logs)),
            METRICS_EXPORT_METHOD: grpc.unary_unary_rpc_method_handler(self._call(intake.metrics)),
        }
        # Refuses before the body is read: a stream handler that never asks for the request.
        self._unauthenticated = grpc.stream_unary_rpc_method_handler(self._refuse)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._handlers.get(handler_call_details.method)
        if handler is None:
            return None
        if not authorized(handler_call_details.invocation_metadata, self._token):
            BAD_INPUT.record(UNAUTHENTICATED, "request without a valid bearer token")
            return self._unauthenticated
        return handler

    def _refuse(self, requests: Any, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
        raise AssertionError("abort raises")  # pragma: no cover

    @staticmethod
    def _call(export: Callable[[bytes], Any]) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                return export(request).SerializeToString()  # type: ignore[no-any-return,unused-ignore]
            except Refused as refused:
                context.abort(_GRPC_CODES[refused.kind], refused.message)
                raise  # abort raises; this keeps type checkers and readers sure nothing follows

        return handle


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
        _check_free(config.listen)  # before anything starts: a taken port leaves nothing running
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
            # gRPC's default SO_REUSEPORT lets a second mre serve bind the same port and take half the
            # traffic, silently: refuse instead.
            ("grpc.so_reuseport", 0),
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
        intake = Intake(self.worker, on_feedback)
        self._server.add_generic_rpc_handlers((_OtlpHandler(intake, config.token),))
        try:
            if config.tls_cert is not None and config.tls_key is not None:
                credentials = grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])
                self.port = self._server.add_secure_port(config.listen, credentials)
            else:
                self.port = self._server.add_insecure_port(config.listen)
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            self.worker.close(timeout_s=1.0)
            raise OSError(
                f"cannot listen for OTLP/gRPC on {config.listen}: the port is in use (another mre serve?) "
                "or the address is not this machine's; pick another with --listen"
            )
        self.http: OtlpHttpReceiver | None = None
        if config.listen_http:
            host, port = split_listen(config.listen_http)
            token = config.token.encode() if config.token else None
            try:
                self.http = OtlpHttpReceiver(
                    host,
                    port,
                    intake,
                    lambda metadata: authorized(metadata, token),
                    config.max_message_bytes,
                    config.max_concurrent_requests,
                )
            except OSError:
                self._server.stop(0)
                self.worker.close(timeout_s=1.0)
                raise

    @property
    def pipeline(self) -> ScoringPipeline:
        return self.worker.pipeline

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http is not None else None

    def start(self) -> BehaviorService:
        self._server.start()
        if self.http is not None:
            self.http.start()
        return self

    def healthy(self) -> bool:
        return self.worker.alive

    def stop(self, grace_s: float = 5.0, on_drained: Callable[[], None] | None = None) -> None:
        """Stop taking requests, score what is held, then let the caller drain its outputs."""
        self._server.stop(grace_s).wait(grace_s + 1)
        if self.http is not None:
            self.http.stop()
        self.worker.close()
        if on_drained is not None:
            on_drained()
