"""The service's HTTP side: ``/metrics`` (Prometheus text or OpenMetrics) and ``/healthz``."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True


def serve_http(
    addr: str, port: int, registry: CollectorRegistry, healthy: Callable[[], bool]
) -> tuple[WSGIServer, int]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in ("/healthz", "/health"):
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"unhealthy\n"]
        return metrics(environ, start_response)

    try:
        server = make_server(addr, port, app, _ThreadingWSGIServer, handler_class=_QuietHandler)
    except OSError as exc:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise OSError(exc.errno, f"cannot serve /metrics on {addr}:{port}: {reason}") from None
    threading.Thread(target=server.serve_forever, name="mre-http", daemon=True).start()
    return server, int(server.server_address[1])


def split_hostport(value: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = default_host, value
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r}: expected [HOST:]PORT with a port number, e.g. 0.0.0.0:9464")
    return (host.strip("[]") or default_host), int(port)
