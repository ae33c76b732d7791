"""The service's HTTP side: ``/metrics`` (Prometheus text or OpenMetrics) and ``/healthz``."""

from __future__ import annotations

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

    server = make_server(addr, port, app, _ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="mre-http", daemon=True).start()
    return server, int(server.server_address[1])


def split_hostport(value: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return default_host, int(value)
    return (host.strip("[]") or default_host), int(port)
