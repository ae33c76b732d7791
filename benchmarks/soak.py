"""Soak: `mre serve` under steady load, with hostile traffic mixed in and faults on the way.

    python benchmarks/soak.py --seconds 600 --traces-per-second 50 --downstream-delay-ms 3

Beside the steady RAG traffic: malformed requests, long hostile texts (quadratic-regex shapes) and
label floods (a new service, model and route per trace); the downstream dead for a sixth of the run;
one SIGTERM of the service and a restart on the same ports. Reports resident memory over time,
the size of ``/metrics``, and per lifetime of the service the spans accepted, delivered downstream,
dropped (by reason) and lost. Lost = accepted but neither delivered nor counted as dropped: it must
be 0. Writes benchmarks/out/soak.json. Not a unit test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import tempfile
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
HOSTILE = (
    "question: x" + " " * 40_000 + "y",
    "a." * 25_000,
    "A" + " " * 40_000 + "a",
    " ".join(f"w{j}." for j in range(8_000)),
    "key: value\n" * 4_000,
)


class SlowDownstream(grpc.GenericRpcHandler):
    """Accepts traces and logs after a delay, counting spans (decoded) and log requests."""

    def __init__(self, delay_s: float) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self._request_type = ExportTraceServiceRequest
        self.delay_s = delay_s
        self.dead = False  # answers UNAVAILABLE, as a downstream that is down
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
        if self.dead:
            context.abort(grpc.StatusCode.UNAVAILABLE, "down")
        time.sleep(self.delay_s)
        parsed = self._request_type.FromString(request)
        n = sum(len(ss.spans) for rs in parsed.resource_spans for ss in rs.scope_spans)
        with self._lock:
            self.spans += n
        return b""

    def _logs(self, request: bytes, context: Any) -> bytes:
        if self.dead:
            context.abort(grpc.StatusCode.UNAVAILABLE, "down")
        time.sleep(self.delay_s)
        with self._lock:
            self.log_requests += 1
        return b""


def _metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _metrics(port: int) -> dict[str, float]:
    text = _metrics_text(port)
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^(mre_[a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def _sum(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k == prefix or k.startswith(prefix + "{"))


def _hostile_batch(n: int, seq: int) -> list[Any]:
    """Traces whose texts are the quadratic-regex shapes, and whose labels are all new (a flood)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    spans = []
    for k in range(n):
        trace_id = (seq * 1_000 + k + 1) | (1 << 120)
        text = HOSTILE[(seq + k) % len(HOSTILE)]
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": f"flood-model-{seq}-{k}",
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": text}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": text}]),
            "mre.route": f"/flood/{seq}/{k}",
        }
        spans.append(
            ReadableSpan(
                name="chat flood",
                context=SpanContext(trace_id, 1, False, TraceFlags(1)),
                parent=None,
                resource=Resource({"service.name": f"flood-service-{seq}-{k}" * 20}),
                attributes=attributes,
                start_time=1,
                end_time=2,
            )
        )
    return spans


class _Lifetime:
    """One run of the service process: what it accepted and what became of it."""

    def __init__(self, extra: tuple[str, ...], ports: tuple[int, int] | None, log: Path) -> None:
        self.log = log
        self._stderr = log.open("w")
        self.proc, self.port, self.metrics_port = start_serve(*extra, ports=ports, stderr=self._stderr)

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then what its last scrape and its last log line say."""
        values = _metrics(self.metrics_port)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self._stderr.close()
        text = self.log.read_text()
        closed = [line for line in text.splitlines() if "forwarder to" in line and "closed" in line]
        delivered = re.search(r"delivered (\d+) spans", closed[-1]) if closed else None
        dropped = (
            dict(
                (reason, int(n)) for n, reason in re.findall(r"(\d+) spans (\w+)", closed[-1].split("dropped:", 1)[-1])
            )
            if closed
            else {}
        )
        accepted = _sum(values, "mre_processor_spans_received_total")
        processor_dropped = {k: v for k, v in values.items() if k.startswith("mre_processor_spans_dropped_total") and v}
        delivered_n = int(delivered.group(1)) if delivered else 0
        lost = accepted - delivered_n - sum(dropped.values()) - sum(processor_dropped.values())
        return {
            "spans_accepted": accepted,
            "spans_delivered": delivered_n,
            "forward_dropped_by_reason": dropped,
            "processor_dropped_by_reason": processor_dropped,
            "spans_lost": lost,
            "final_log_line": closed[-1] if closed else None,
            "tracebacks_in_log": text.count("Traceback"),
            "log_lines": len(text.splitlines()),
        }


def run(seconds: float, traces_per_second: float, delay_ms: float) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    downstream = SlowDownstream(delay_ms / 1000)
    workdir = Path(tempfile.mkdtemp(prefix="mre-soak-"))
    extra = ("--forward", f"127.0.0.1:{downstream.port}", "--trace-timeout", "5")
    life = _Lifetime(extra, None, workdir / "serve-1.log")
    ports = (life.port, life.metrics_port)
    lifetimes: list[dict[str, Any]] = []
    samples: list[dict[str, float]] = []
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{life.port}", insecure=True, timeout=30)
    channel = grpc.insecure_channel(f"127.0.0.1:{life.port}")
    malformed = channel.unary_unary(TRACE_EXPORT_METHOD, request_serializer=None, response_deserializer=None)
    started = time.monotonic()
    per_batch = BATCH // 4  # traces per export call
    sent_spans = bad_requests = hostile_batches = bad_before_restart = 0
    next_sample = next_bad = 0.0
    dead_from, dead_until, restart_at = seconds / 3, seconds / 2, 2 * seconds / 3
    restarted = False
    max_metrics_bytes = 0
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            batch_started = time.monotonic()
            downstream.dead = dead_from <= elapsed < dead_until
            if not restarted and elapsed >= restart_at:
                time.sleep(1.0)  # what was sent is in before the last scrape
                lifetimes.append(life.stop())
                life = _Lifetime(extra, ports, workdir / "serve-2.log")
                restarted = True
                bad_before_restart = bad_requests
            for batch in make_traces(per_batch):
                exporter.export(batch)
                sent_spans += len(batch)
            hostile_batches += 1
            exporter.export(_hostile_batch(4, hostile_batches))
            sent_spans += 4
            if elapsed >= next_bad:
                bad_requests += 1
                next_bad += 10.0
                with contextlib.suppress(grpc.RpcError):
                    malformed(b"\x0a\xff\xff not a protobuf", timeout=5)
            if elapsed >= next_sample:
                size = len(_metrics_text(life.metrics_port))
                max_metrics_bytes = max(max_metrics_bytes, size)
                samples.append(
                    {"t": round(elapsed, 1), "rss_mib": round(_rss_mib(life.proc.pid), 2), "metrics_bytes": size}
                )
                next_sample += 10.0
            # Steady rate: sleep what is left of this batch's share of time.
            time.sleep(max(0.0, per_batch / traces_per_second - (time.monotonic() - batch_started)))
        exporter.shutdown()
        channel.close()
        downstream.dead = False
        drain_deadline = time.monotonic() + 120  # the service releases the last traces, the forwarder drains
        while time.monotonic() < drain_deadline:
            values = _metrics(life.metrics_port)
            if _sum(values, "mre_forward_queue_items") == 0 and _sum(values, "mre_processor_traces_pending") == 0:
                break
            time.sleep(1)
        time.sleep(2)
        values = _metrics(life.metrics_port)
        lifetimes.append(life.stop())
    finally:
        with contextlib.suppress(Exception):
            life.proc.terminate()
        downstream.server.stop(0)
    second = [s for s in samples if s["t"] >= restart_at]
    first = [s for s in samples if 60 <= s["t"] < restart_at]
    return {
        "seconds": seconds,
        "traces_per_second_target": traces_per_second,
        "downstream_delay_ms": delay_ms,
        "downstream_dead_s": [round(dead_from), round(dead_until)],
        "sigterm_and_restart_at_s": round(restart_at),
        "spans_sent": sent_spans,
        "spans_delivered_downstream": downstream.spans,
        "lifetimes": lifetimes,
        "spans_lost": sum(lt["spans_lost"] for lt in lifetimes),
        "malformed_requests_sent": bad_requests,
        "malformed_requests_sent_last_lifetime": bad_requests - bad_before_restart,
        "hostile_traces_sent": hostile_batches * 4,
        "bad_input_counted_last_lifetime": {
            k: v for k, v in values.items() if k.startswith("mre_processor_bad_input_total")
        },
        "series_overflow": {k: v for k, v in values.items() if k.startswith("mre_metrics_series_overflow_total")},
        "content_truncated": {k: v for k, v in values.items() if k.startswith("mre_processor_content_truncated")},
        "interactions_scored_last_lifetime": _sum(values, "mre_interactions_total"),
        "metrics_bytes_max": max_metrics_bytes,
        "rss_mib_first_lifetime_after_1m": [s["rss_mib"] for s in first],
        "rss_first_lifetime_max_vs_min": (max(s["rss_mib"] for s in first) / min(s["rss_mib"] for s in first))
        if first
        else None,
        "rss_mib_second_lifetime": [s["rss_mib"] for s in second],
        "rss_mib_over_time": samples,
    }


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
