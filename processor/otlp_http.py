"""OTLP/HTTP beside OTLP/gRPC: ``POST /v1/traces``, ``/v1/logs``, ``/v1/metrics``, protobuf
(``application/x-protobuf``) or JSON (``application/json``), optionally gzip-encoded.

The same auth, bounds and counters as the gRPC side (:mod:`mre.processor.intake`): the bearer token
is checked before the body is read; a body over ``max_message_bytes`` (before or after gzip) is 413;
a full queue is 503 with ``Retry-After`` (the OTLP/HTTP exporters retry 429/502/503/504 and nothing
else); unreadable input is 400 with a ``google.rpc.Status`` saying why. At most
``max_concurrent_requests`` are read at once; more get 503 before their body is read.
"""

from __future__ import annotations

import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mre.processor.health import (
    BAD_INPUT,
    CONCURRENCY_LIMIT,
    MALFORMED_REQUEST,
    OVERSIZED_REQUEST,
    UNAUTHENTICATED,
)
from mre.processor.intake import BUSY, INVALID, TOO_LARGE, Intake, Refused, json_to_protobuf

logger = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PATHS: dict[str, tuple[str, type[Message]]] = {
    "/v1/traces": ("traces", ExportTraceServiceRequest),
    "/v1/logs": ("logs", ExportLogsServiceRequest),
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest),
}
_STATUS = {INVALID: 400, TOO_LARGE: 413, BUSY: 503}
# google.rpc.Code for the Status body.
_CODES = {INVALID: 3, TOO_LARGE: 3, BUSY: 8}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # SO_REUSEADDR: a restart binds over its own TIME_WAIT connections. On Linux it never lets a
    # second listener share the port (SO_REUSEPORT would, and is not set): a second mre still fails.
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        intake: Intake,
        authorized: Any,
        max_bytes: int,
        max_concurrent: int,
        idle_timeout_s: float,
    ) -> None:
        handler = type("_TimedHandler", (_Handler,), {"timeout": idle_timeout_s})
        super().__init__(address, handler)
        self.intake = intake
        self.authorized = authorized
        self.max_bytes = max_bytes
        self.slots = threading.BoundedSemaphore(max_concurrent)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("otlp/http: " + format, *args)

    def do_POST(self) -> None:
        route = _PATHS.get(self.path.split("?", 1)[0])
        if route is None:
            BAD_INPUT.record(MALFORMED_REQUEST, f"OTLP/HTTP POST to unknown path {self.path[:80]!r}")
            self._plain(404, "OTLP/HTTP takes POST /v1/traces, /v1/logs and /v1/metrics")
            return
        signal, message = route
        if not self.server.authorized([("authorization", self.headers.get("Authorization", ""))]):
            BAD_INPUT.record(UNAUTHENTICATED, "OTLP/HTTP request without a valid bearer token")
            self._plain(401, "a valid bearer token is required", close=True)
            return
        if not self.server.slots.acquire(blocking=False):
            BAD_INPUT.record(CONCURRENCY_LIMIT, "OTLP/HTTP request refused: too many at once (the sender retries)")
            self._status(503, BUSY, "too many requests at once; retry later", JSON, retry=True, close=True)
            return
        try:
            self._export(signal, message)
        finally:
            self.server.slots.release()

    def _export(self, signal: str, message: type[Message]) -> None:
        kind = (self.headers.get("Content-Type") or PROTOBUF).split(";", 1)[0].strip().lower()
        if kind not in (PROTOBUF, JSON):
            BAD_INPUT.record(MALFORMED_REQUEST, f"OTLP/HTTP Content-Type {kind[:60]!r}")
            self._plain(415, f"Content-Type must be {PROTOBUF} or {JSON}", close=True)
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            BAD_INPUT.record(MALFORMED_REQUEST, "OTLP/HTTP request without a valid Content-Length")
            self._plain(411, "a Content-Length of zero or more bytes is required", close=True)
            return
        limit = self.server.max_bytes
        if length > limit:
            BAD_INPUT.record(OVERSIZED_REQUEST, f"OTLP/HTTP body of {length} bytes (limit {limit})")
            self._status(413, TOO_LARGE, f"a body of {length} bytes is over mre's {limit}", kind, close=True)
            return
        body = self.rfile.read(length)
        try:
            body = self._decompress(body, limit)
            data = json_to_protobuf(body, message) if kind == JSON else body
            intake = self.server.intake
            response = getattr(intake, signal)(data)
        except Refused as refused:
            self._status(_STATUS[refused.kind], refused.kind, refused.message, kind, retry=refused.kind == BUSY)
            return
        payload = json_format.MessageToJson(response).encode() if kind == JSON else response.SerializeToString()
        self._send(200, kind, payload)

    def _decompress(self, body: bytes, limit: int) -> bytes:
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "identity":
            return body
        if encoding != "gzip":
            raise Refused(INVALID, f"Content-Encoding {encoding!r}: only gzip is supported")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(body, limit + 1)  # never inflate past the bound (a gzip bomb)
        except zlib.error as exc:
            BAD_INPUT.record(MALFORMED_REQUEST, f"bad gzip body ({exc})")
            raise Refused(INVALID, f"bad gzip body: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            BAD_INPUT.record(OVERSIZED_REQUEST, f"OTLP/HTTP gzip body inflating past {limit} bytes")
            raise Refused(TOO_LARGE, f"the body inflates past mre's {limit} bytes")
        return out

    def _status(
        self, code: int, kind: str, text: str, content_type: str, *, retry: bool = False, close: bool = False
    ) -> None:
        status = status_pb2.Status(code=_CODES.get(kind, 2), message=text)
        body = json_format.MessageToJson(status).encode() if content_type == JSON else status.SerializeToString()
        headers = {"Retry-After": "1"} if retry else {}
        self._send(code, content_type if content_type in (PROTOBUF, JSON) else PROTOBUF, body, headers, close)

    def _plain(self, code: int, text: str, close: bool = False) -> None:
        self._send(code, "text/plain; charset=utf-8", (text + "\n").encode(), {}, close)

    def _send(
        self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None, close: bool = False
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:  # the body was not read: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class OtlpHttpReceiver:
    """``idle_timeout_s``: a connection that sends nothing (or too slowly) for this long is closed, so
    idle or trickling clients cannot pile up threads."""

    def __init__(
        self,
        host: str,
        port: int,
        intake: Intake,
        authorized: Any,
        max_bytes: int,
        max_concurrent: int,
        idle_timeout_s: float = 15.0,
    ) -> None:
        try:
            self._server = _Server((host, port), intake, authorized, max_bytes, max_concurrent, idle_timeout_s)
        except OSError as exc:
            raise OSError(f"cannot listen for OTLP/HTTP on {host}:{port}: {exc.strerror or exc}") from None
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="mre-otlp-http", daemon=True)

    def start(self) -> OtlpHttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
