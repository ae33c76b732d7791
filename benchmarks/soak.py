"""Soak: `mre serve` under steady load with a slow downstream and periodic malformed requests.

    python benchmarks/soak.py --seconds 600 --traces-per-second 50 --downstream-delay-ms 3

Reports resident memory over time, spans accepted, dropped (with reasons) and lost. Lost = spans the
service accepted that neither reached the downstream nor were counted as dropped: it must be 0 below
the queue bound. Writes benchmarks/out/soak.json. Not a unit test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.service import BATCH, _rss_mib, make_traces, start_serve
from mre.processor.service import TRACE_EXPORT_METHOD

LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
OUT = Path(__file__).resolve().parent / "out"


class SlowDownstream(grpc.GenericRpcHandler):
    """Accepts traces and logs after a delay, counting spans (decoded) and log requests."""

    def __init__(self, delay_s: float) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self._request_type = ExportTraceServiceRequest
        self.delay_s = delay_s
        self.spans = 0
        self.log_requests = 0
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((self,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method  # type: ignore[attr-defined]
        if method == TRACE_EXPORT_METHOD:
            return grpc.unary_unary_rpc_method_handler(self._traces)
        if method == LOGS_METHOD:
            return grpc.unary_unary_rpc_method_handler(self._logs)
        return None

    def _traces(self, request: bytes, context: Any) -> bytes:
        time.sleep(self.delay_s)
        parsed = self._request_type.FromString(request)
        n = sum(len(ss.spans) for rs in parsed.resource_spans for ss in rs.scope_spans)
        with self._lock:
            self.spans += n
        return b""

    def _logs(self, request: bytes, context: Any) -> bytes:
        time.sleep(self.delay_s)
        with self._lock:
            self.log_requests += 1
        return b""


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(mre_[a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def _sum(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k == prefix or k.startswith(prefix + "{"))


def run(seconds: float, traces_per_second: float, delay_ms: float) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    downstream = SlowDownstream(delay_ms / 1000)
    proc, port, metrics_port = start_serve("--forward", f"127.0.0.1:{downstream.port}")
    samples: list[dict[str, float]] = []
    try:
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=30)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        malformed = channel.unary_unary(TRACE_EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        started = time.monotonic()
        per_batch = BATCH // 4  # traces per export call
        sent_spans = 0
        next_sample = 0.0
        bad_requests = 0
        while (elapsed := time.monotonic() - started) < seconds:
            batch_started = time.monotonic()
            for batch in make_traces(per_batch):
                exporter.export(batch)
                sent_spans += len(batch)
            if int(elapsed) % 10 == 0 and elapsed - bad_requests * 10 >= 10:
                bad_requests += 1
                with contextlib.suppress(grpc.RpcError):
                    malformed(b"\x0a\xff\xff not a protobuf", timeout=5)
            if elapsed >= next_sample:
                samples.append({"t": round(elapsed, 1), "rss_mib": round(_rss_mib(proc.pid), 2)})
                next_sample += 10.0
            # Steady rate: sleep what is left of this batch's share of time.
            time.sleep(max(0.0, per_batch / traces_per_second - (time.monotonic() - batch_started)))
        exporter.shutdown()
        channel.close()
        # Let the service release the last traces and the forwarder drain.
        drain_deadline = time.monotonic() + 120
        while time.monotonic() < drain_deadline:
            values = _metrics(metrics_port)
            if _sum(values, "mre_forward_queue_items") == 0 and _sum(values, "mre_processor_traces_pending") == 0:
                break
            time.sleep(1)
        time.sleep(2)
        values = _metrics(metrics_port)
        received = _sum(values, "mre_processor_spans_received_total")
        dropped = {k: v for k, v in values.items() if k.startswith("mre_processor_spans_dropped_total") and v}
        forward_dropped = {k: v for k, v in values.items() if k.startswith("mre_forward_dropped_total") and v}
        dropped_spans = sum(dropped.values()) + sum(v for k, v in forward_dropped.items() if 'signal="spans"' in k)
        delivered = downstream.spans
        rss = {s["t"]: s["rss_mib"] for s in samples}
        at_1m = next((v for t, v in rss.items() if t >= 60), None)
        return {
            "seconds": seconds,
            "traces_per_second_target": traces_per_second,
            "downstream_delay_ms": delay_ms,
            "spans_sent": sent_spans,
            "spans_accepted": received,
            "spans_refused_retryable": _sum(values, "mre_processor_spans_refused_total"),
            "spans_dropped_by_reason": dropped,
            "forward_dropped_by_reason": forward_dropped,
            "spans_delivered_downstream": delivered,
            "spans_lost": received - delivered - dropped_spans,
            "malformed_requests_sent": bad_requests,
            "bad_input_counted": {k: v for k, v in values.items() if k.startswith("mre_processor_bad_input_total")},
            "interactions_scored": _sum(values, "mre_interactions_total"),
            "rss_mib_at_1m": at_1m,
            "rss_mib_at_end": samples[-1]["rss_mib"] if samples else None,
            "rss_end_vs_1m_ratio": (samples[-1]["rss_mib"] / at_1m) if samples and at_1m else None,
            "rss_mib_over_time": samples,
        }
    finally:
        proc.terminate()
        proc.wait(30)
        downstream.server.stop(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--traces-per-second", type=float, default=50)
    parser.add_argument("--downstream-delay-ms", type=float, default=3)
    args = parser.parse_args()
    result = run(args.seconds, args.traces_per_second, args.downstream_delay_ms)
    OUT.mkdir(exist_ok=True)
    (OUT / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k != "rss_mib_over_time"}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
