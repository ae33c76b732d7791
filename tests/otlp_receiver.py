"""An in-test OTLP/gRPC receiver for traces and logs: the downstream of `mre serve`."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


class Receiver(grpc.GenericRpcHandler):
    """``max_message_bytes`` as a collector would set it (gRPC's default is 4 MiB); ``status`` makes
    every export fail with that code (a broken downstream)."""

    def __init__(
        self, port: int = 0, max_message_bytes: int | None = None, status: grpc.StatusCode | None = None
    ) -> None:
        self.spans: list[Span] = []
        self.logs: list[LogRecord] = []
        self.requests = 0
        self.status = status
        self._lock = threading.Lock()
        options = [("grpc.max_receive_message_length", max_message_bytes)] if max_message_bytes else []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
        self._server.add_generic_rpc_handlers((self,))
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self._server.start()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method  # type: ignore[attr-defined]
        if method == TRACES:
            return grpc.unary_unary_rpc_method_handler(
                self._traces, ExportTraceServiceRequest.FromString, ExportTraceServiceResponse.SerializeToString
            )
        if method == LOGS:
            return grpc.unary_unary_rpc_method_handler(
                self._logs, ExportLogsServiceRequest.FromString, ExportLogsServiceResponse.SerializeToString
            )
        return None

    def _traces(self, request: ExportTraceServiceRequest, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        if self.status is not None:
            context.abort(self.status, "the test downstream refuses")
        with self._lock:
            self.requests += 1
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    self.spans.extend(ss.spans)
        return ExportTraceServiceResponse()

    def _logs(self, request: ExportLogsServiceRequest, context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        if self.status is not None:
            context.abort(self.status, "the test downstream refuses")
        with self._lock:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    self.logs.extend(sl.log_records)
        return ExportLogsServiceResponse()

    def stop(self) -> None:
        self._server.stop(0).wait()


def attrs(span: Span | LogRecord) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out
